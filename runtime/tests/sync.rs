//! Image sync and login check against real registries (Debian's `docker-registry`) on
//! loopback: credentials good and bad, unknown images, a registry that goes away, a port
//! that closes every connection, a second sync that pulls nothing, a changed expected id
//! that pulls exactly that image, and `POST /auth` per registry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::sync::Mutex;

use runtime::ErrorKind;
use runtime::login::{LoginStatus, login_check};
use runtime::manifest::Manifest;
use runtime::sync::{SyncAction, SyncEvent, SyncReport, sync};
use testkit::docker::{
    Cleanup, Registry, docker, docker_ok, engine_available, import_unique, push, registry_available,
};

const USER: &str = "synctester";
/// Standard base64 of the auth JSON with this password contains `+` or `/`.
const PASSWORD: &str = "p?>~~s";

fn ready(test: &str) -> bool {
    engine_available(test) && registry_available(test)
}

/// Removes the named local tags when dropped.
struct Untag(Mutex<Vec<String>>);

impl Untag {
    fn add(&self, reference: &str) {
        self.0.lock().unwrap().push(reference.to_owned());
    }
}

impl Drop for Untag {
    fn drop(&mut self) {
        for reference in self.0.lock().unwrap().iter() {
            let _ = docker(&["rmi", "-f", reference]);
        }
    }
}

/// Imports a unique image, pushes it through the open registry as `<path>` and removes it
/// locally; returns its image id (a pull gives back the same id).
fn publish(open: &Registry, cleanup: &Cleanup, path: &str, seed: &str) -> String {
    let local = format!("tarsdock-test/sync-{seed}:{}", cleanup.run_id);
    import_unique(&local, &format!("{}-{seed}", cleanup.run_id), 64 * 1024);
    let id = docker_ok(&["image", "inspect", "--format", "{{.Id}}", &local]);
    let _ = push(open, &local, path, true);
    id
}

fn manifest(text: &str) -> Manifest {
    Manifest::parse(text, Path::new("test.toml"), Path::new("/")).unwrap()
}

/// Private password files (the good and a wrong password) in `dir`.
fn password_files(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    for (name, text) in [
        ("good.pass", format!("{PASSWORD}\n")),
        ("wrong.pass", "nope".into()),
    ] {
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// The registries: `auth` (good password), `wrong` (same registry, wrong password), `open`.
fn registries(auth: &Registry, open: &Registry, dir: &Path) -> String {
    password_files(dir);
    format!(
        "[[registry]]\nid = \"auth\"\naddress = \"{}\"\nusername = \"{USER}\"\npassword-file = \"{}\"\n\
         [[registry]]\nid = \"wrong\"\naddress = \"{}\"\nusername = \"{USER}\"\npassword-file = \"{}\"\n\
         [[registry]]\nid = \"open\"\naddress = \"{}\"\n",
        auth.address,
        dir.join("good.pass").display(),
        auth.address,
        dir.join("wrong.pass").display(),
        open.address
    )
}

fn image(reference: &str, registry: &str, id: Option<&str>) -> String {
    let id = id.map(|i| format!("id = \"{i}\"\n")).unwrap_or_default();
    format!("[[image]]\nimage = \"{reference}\"\nregistry = \"{registry}\"\n{id}")
}

fn by_image<'a>(report: &'a SyncReport, reference: &str) -> &'a runtime::sync::ImageSync {
    report
        .images
        .iter()
        .find(|i| i.image == reference)
        .unwrap_or_else(|| panic!("{reference} not in {report:#?}"))
}

#[tokio::test]
async fn sync_pulls_what_is_missing_or_changed_and_nothing_else() {
    if !ready("sync_pulls_what_is_missing_or_changed_and_nothing_else") {
        return;
    }
    let cleanup = Cleanup::new();
    let untag = Untag(Mutex::new(Vec::new()));
    let storage = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let open = Registry::start(storage.path(), None);
    let auth = Registry::start(storage.path(), Some((USER, PASSWORD)));
    let run = &cleanup.run_id;
    let a_path = format!("tarsdock-test/{run}-a:1");
    let b_path = format!("tarsdock-test/{run}-b:1");
    let a_id = publish(&open, &cleanup, &a_path, "a1");
    let _b_id = publish(&open, &cleanup, &b_path, "b1");
    let a = format!("{}/{a_path}", auth.address);
    let b = format!("{}/{b_path}", auth.address);
    let unknown = format!("{}/tarsdock-test/{run}-nothere:1", auth.address);
    let wrong = b.clone();
    // The first `a` is left untagged when the second replaces it: remove it by id.
    for r in [&a, &b, &unknown, &a_id] {
        untag.add(r);
    }
    // A port that accepts and closes every connection: the pull's stream fails.
    let closing = TcpListener::bind("127.0.0.1:0").unwrap();
    let closing_addr = closing.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in closing.incoming().take(64) {
            drop(stream);
        }
    });
    let dead = format!("{closing_addr}/tarsdock-test/{run}-dead:1");

    let text = format!(
        "{}[[registry]]\nid = \"dead\"\naddress = \"{closing_addr}\"\n{}{}{}{}",
        registries(&auth, &open, secrets.path()),
        image(&a, "auth", None),
        image(&b, "auth", None),
        image(&unknown, "auth", None),
        image(&dead, "dead", None),
    );
    let m = manifest(&text);
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let done = Mutex::new(Vec::new());
    let events = |e: SyncEvent| {
        if let SyncEvent::Done(i) = e {
            done.lock().unwrap().push(i.image);
        }
    };

    // First run: a and b pulled with the credentials; the unknown image and the closing
    // port fail with their own messages; the failures stop nothing.
    let first = sync(&rt, &m, 3, &events).await;
    assert_eq!(done.lock().unwrap().len(), 4, "{first:#?}");
    assert_eq!(
        (first.pulled, first.present, first.failed),
        (2, 0, 2),
        "{first:#?}"
    );
    let got_a = by_image(&first, &a);
    assert_eq!(got_a.action, SyncAction::Pulled);
    assert_eq!(got_a.id.as_deref(), Some(a_id.as_str()));
    assert!(got_a.result.ends_with(" - succ"), "{}", got_a.result);
    assert!(
        got_a
            .pulled_because
            .as_deref()
            .unwrap()
            .contains("not present")
    );
    let got_unknown = by_image(&first, &unknown);
    assert_eq!(got_unknown.action, SyncAction::Failed);
    assert_eq!(got_unknown.error_kind, Some(ErrorKind::ImageUnavailable));
    assert!(
        got_unknown.result.contains("manifest unknown") || got_unknown.result.contains("not found"),
        "{}",
        got_unknown.result
    );
    let got_dead = by_image(&first, &dead);
    assert_eq!(
        got_dead.error_kind,
        Some(ErrorKind::ImageUnavailable),
        "{got_dead:#?}"
    );
    assert!(
        got_dead.result.contains(&closing_addr.to_string()) || got_dead.result.contains("EOF"),
        "{}",
        got_dead.result
    );
    assert!(!first.all_succeeded());
    assert_eq!(first.first_failure(), Some(ErrorKind::ImageUnavailable));
    assert!(!format!("{first:?}").contains(PASSWORD));

    // Second run with only the good images: nothing pulled.
    let good = manifest(&format!(
        "{}{}{}",
        registries(&auth, &open, secrets.path()),
        image(&a, "auth", Some(&a_id)),
        image(&b, "auth", None)
    ));
    let second = sync(&rt, &good, 2, &|_| {}).await;
    assert_eq!(
        (second.pulled, second.present, second.failed),
        (0, 2, 0),
        "{second:#?}"
    );
    assert!(second.all_succeeded());

    // A new version of `a` behind the same tag, expected by id: exactly `a` is pulled.
    let a2_id = publish(&open, &cleanup, &a_path, "a2");
    assert_ne!(a2_id, a_id);
    let changed = manifest(&format!(
        "{}{}{}",
        registries(&auth, &open, secrets.path()),
        image(&a, "auth", Some(&a2_id)),
        image(&b, "auth", None)
    ));
    let third = sync(&rt, &changed, 1, &|_| {}).await;
    assert_eq!(
        (third.pulled, third.present, third.failed),
        (1, 1, 0),
        "{third:#?}"
    );
    let got_a = by_image(&third, &a);
    assert_eq!(got_a.action, SyncAction::Pulled);
    assert_eq!(got_a.id.as_deref(), Some(a2_id.as_str()));
    assert!(got_a.pulled_because.as_deref().unwrap().contains("differs"));
    let fourth = sync(&rt, &changed, 1, &|_| {}).await;
    assert_eq!(fourth.pulled, 0, "{fourth:#?}");

    // Wrong credentials: the image-class error, with the registry's refusal; the other
    // image still syncs.
    let _ = docker(&["rmi", "-f", &wrong]);
    let bad = manifest(&format!(
        "{}{}{}",
        registries(&auth, &open, secrets.path()),
        image(&wrong, "wrong", None),
        image(&a, "auth", None)
    ));
    let fifth = sync(&rt, &bad, 2, &|_| {}).await;
    let got_wrong = by_image(&fifth, &wrong);
    assert_eq!(got_wrong.action, SyncAction::Failed, "{fifth:#?}");
    assert_eq!(got_wrong.error_kind, Some(ErrorKind::ImageUnavailable));
    let lower = got_wrong.result.to_ascii_lowercase();
    assert!(
        lower.contains("unauthorized") || lower.contains("authentication required"),
        "{}",
        got_wrong.result
    );
    assert_eq!(by_image(&fifth, &a).action, SyncAction::Present);

    // The registry goes away: the missing image's pull fails and says so.
    let _ = docker(&["rmi", "-f", &b]);
    drop(auth);
    let gone = sync(&rt, &changed, 2, &|_| {}).await;
    let got_b = by_image(&gone, &b);
    assert_eq!(got_b.action, SyncAction::Failed, "{gone:#?}");
    assert_eq!(got_b.error_kind, Some(ErrorKind::ImageUnavailable));
    assert!(got_b.result.contains("pull failed"), "{}", got_b.result);
    assert_eq!(by_image(&gone, &a).action, SyncAction::Present);
}

#[tokio::test]
async fn login_check_reports_each_registry() {
    if !ready("login_check_reports_each_registry") {
        return;
    }
    let storage = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let open = Registry::start(storage.path(), None);
    let auth = Registry::start(storage.path(), Some((USER, PASSWORD)));
    let text = format!(
        "{}[[registry]]\nid = \"unset\"\naddress = \"{}\"\nusername = \"{USER}\"\npassword-env = \"TARSDOCK_SYNC_TEST_UNSET\"\n",
        registries(&auth, &open, secrets.path()),
        auth.address
    );
    let m = manifest(&text);
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let report = login_check(&rt, &m, 4).await;
    let status = |id: &str| {
        report
            .registries
            .iter()
            .find(|r| r.registry == id)
            .unwrap_or_else(|| panic!("{id} not in {report:#?}"))
    };
    assert_eq!(status("auth").status, LoginStatus::Succeeded, "{report:#?}");
    assert_eq!(status("auth").message, "Login Succeeded");
    assert_eq!(status("wrong").status, LoginStatus::Failed);
    assert!(status("wrong").message.contains("401"), "{report:#?}");
    assert_eq!(status("open").status, LoginStatus::Skipped);
    assert_eq!(status("unset").status, LoginStatus::Failed);
    assert!(status("unset").message.contains("is not set"));
    assert_eq!((report.succeeded, report.failed, report.skipped), (1, 2, 1));
    assert!(!format!("{report:?}").contains(PASSWORD));
}
