//! The image manifest of `tarsdock image sync` and `tarsdock image login-check`: the
//! registries and base images an operator configured, like upstream's `t_docker_registry`
//! and `t_base_image` tables.
//!
//! ```toml
//! [[registry]]
//! id = "local"                        # t_docker_registry.id; images refer to it
//! address = "127.0.0.1:5000"          # t_docker_registry.registry
//! username = "tars"                   # optional: no username = anonymous pulls
//! password-env = "TARS_REGISTRY_PASS" # the password's source: an environment variable
//! # password-file = "registry.pass"   # … or a file (relative to the manifest)
//!
//! [[image]]
//! image = "127.0.0.1:5000/tars/cppbase:v1" # t_base_image.image
//! registry = "local"                       # t_base_image.registryId (optional)
//! id = "sha256:…"                          # t_base_image.sha: the expected id (optional)
//! ```
//!
//! Passwords are never inline (upstream keeps them in plain text in the database): a
//! `password` key is an error, so a manifest can be world-readable and checked in. A password
//! file is read with [`crate::secret::read_secret_file`], like an ssh key: a regular file
//! (not a link), owned by the user tarsdock runs as, with no group or other permission bits.
//! Trailing newlines are removed from a file's content.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::image::{ImageRef, RegistryAuth};

/// Why a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The file cannot be read.
    #[error("cannot read the manifest {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not valid TOML, or not the manifest's shape.
    #[error("manifest {}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    /// Valid TOML, but inconsistent (unknown registry, inline password, …).
    #[error("manifest {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

/// Why a registry's password could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    #[error("registry {registry}: the environment variable {variable} is not set")]
    MissingEnv { registry: String, variable: String },
    #[error("registry {registry}: {source}")]
    PasswordFile {
        registry: String,
        source: crate::secret::SecretError,
    },
    #[error("registry {registry}: the password is empty")]
    Empty { registry: String },
}

/// Where a registry's password comes from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PasswordSource {
    /// An environment variable, by name.
    Env(String),
    /// A file (absolute, or resolved against the manifest's folder).
    File(PathBuf),
}

/// One registry (`t_docker_registry`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RegistrySpec {
    pub id: String,
    /// `host[:port]`, as the engine's `serveraddress`.
    pub address: String,
    pub username: Option<String>,
    pub password: Option<PasswordSource>,
}

/// One base image (`t_base_image`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ImageSpec {
    /// The full reference, used as is (upstream does not prefix the registry address).
    pub image: String,
    /// The id of the registry whose credentials pull it.
    pub registry: Option<String>,
    /// The expected image id (`sha256:…`): a local image with another id is pulled.
    pub id: Option<String>,
}

/// A checked manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Manifest {
    pub registries: Vec<RegistrySpec>,
    pub images: Vec<ImageSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default)]
    registry: Vec<RawRegistry>,
    #[serde(default)]
    image: Vec<RawImage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRegistry {
    id: String,
    address: String,
    username: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    /// Only to refuse it with a clear message.
    password: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImage {
    image: String,
    registry: Option<String>,
    id: Option<String>,
}

impl Manifest {
    /// Reads and checks a manifest file; relative password files are resolved against its
    /// folder.
    ///
    /// # Errors
    /// [`ManifestError`] for unreadable, malformed or inconsistent manifests.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new(""));
        Self::parse(&text, path, base)
    }

    /// Parses manifest text; `path` is used in messages, `base` resolves relative password
    /// files.
    ///
    /// # Errors
    /// [`ManifestError::Syntax`] and [`ManifestError::Invalid`].
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| ManifestError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let invalid = |message: String| ManifestError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let mut registries = Vec::with_capacity(raw.registry.len());
        let mut ids = HashSet::new();
        for r in raw.registry {
            let id = r.id.trim().to_owned();
            if id.is_empty() {
                return Err(invalid("a registry has an empty id".to_owned()));
            }
            if !ids.insert(id.clone()) {
                return Err(invalid(format!("registry id `{id}` is defined twice")));
            }
            if r.password.is_some() {
                return Err(invalid(format!(
                    "registry `{id}`: inline passwords are not accepted; \
                     use password-env = \"VAR\" or password-file = \"FILE\""
                )));
            }
            let address = r.address.trim().to_owned();
            if address.is_empty() || address.chars().any(char::is_whitespace) {
                return Err(invalid(format!(
                    "registry `{id}`: address `{}` is not host[:port]",
                    r.address
                )));
            }
            let username = r.username.filter(|u| !u.is_empty());
            let password = match (r.password_env, r.password_file) {
                (Some(_), Some(_)) => {
                    return Err(invalid(format!(
                        "registry `{id}`: give either password-env or password-file, not both"
                    )));
                }
                (Some(var), None) if !var.is_empty() => Some(PasswordSource::Env(var)),
                (Some(_), None) => {
                    return Err(invalid(format!("registry `{id}`: password-env is empty")));
                }
                (None, Some(file)) => Some(PasswordSource::File(base.join(file))),
                (None, None) => None,
            };
            match (&username, &password) {
                (Some(_), None) => {
                    return Err(invalid(format!(
                        "registry `{id}`: a username needs password-env or password-file"
                    )));
                }
                (None, Some(_)) => {
                    return Err(invalid(format!(
                        "registry `{id}`: a password source without a username"
                    )));
                }
                _ => {}
            }
            registries.push(RegistrySpec {
                id,
                address,
                username,
                password,
            });
        }
        let mut images = Vec::with_capacity(raw.image.len());
        let mut seen = HashSet::new();
        for i in raw.image {
            ImageRef::parse(&i.image).map_err(|e| invalid(e.to_string()))?;
            if !seen.insert(i.image.clone()) {
                return Err(invalid(format!("image `{}` is listed twice", i.image)));
            }
            if let Some(reg) = &i.registry
                && !ids.contains(reg.as_str())
            {
                return Err(invalid(format!(
                    "image `{}` names registry `{reg}`, which is not defined",
                    i.image
                )));
            }
            images.push(ImageSpec {
                image: i.image,
                registry: i.registry,
                id: i.id.filter(|s| !s.trim().is_empty()),
            });
        }
        Ok(Self { registries, images })
    }

    /// The registry with this id.
    #[must_use]
    pub fn registry(&self, id: &str) -> Option<&RegistrySpec> {
        self.registries.iter().find(|r| r.id == id)
    }
}

impl RegistrySpec {
    /// The credentials, reading the password from its source; `None` without a username.
    ///
    /// # Errors
    /// [`CredentialError`] when the password cannot be had.
    pub fn credentials(&self) -> Result<Option<RegistryAuth>, CredentialError> {
        self.credentials_with(|name| std::env::var(name).ok())
    }

    /// As [`Self::credentials`], with the environment given as a lookup function.
    ///
    /// # Errors
    /// [`CredentialError`] when the password cannot be had.
    pub fn credentials_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<RegistryAuth>, CredentialError> {
        let (Some(username), Some(source)) = (&self.username, &self.password) else {
            return Ok(None);
        };
        let password = match source {
            PasswordSource::Env(variable) => {
                env(variable).ok_or_else(|| CredentialError::MissingEnv {
                    registry: self.id.clone(),
                    variable: variable.clone(),
                })?
            }
            PasswordSource::File(path) => {
                crate::secret::read_secret_file(path).map_err(|source| {
                    CredentialError::PasswordFile {
                        registry: self.id.clone(),
                        source,
                    }
                })?
            }
        };
        let password = password.trim_end_matches(['\n', '\r']).to_owned();
        if password.is_empty() {
            return Err(CredentialError::Empty {
                registry: self.id.clone(),
            });
        }
        Ok(Some(RegistryAuth {
            username: username.clone(),
            password,
            server_address: Some(self.address.clone()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, Path::new("m.toml"), Path::new("/etc/tarsdock"))
    }

    const GOOD: &str = r#"
[[registry]]
id = "local"
address = "127.0.0.1:5000"
username = "tars"
password-env = "PASS"

[[registry]]
id = "files"
address = "reg.example:443"
username = "u"
password-file = "reg.pass"

[[registry]]
id = "open"
address = "127.0.0.1:5001"

[[image]]
image = "127.0.0.1:5000/tars/cppbase:v1"
registry = "local"
id = "sha256:abc"

[[image]]
image = "busybox"
"#;

    #[test]
    fn parses_registries_and_images() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.registries.len(), 3);
        assert_eq!(
            m.registries[1].password,
            Some(PasswordSource::File(PathBuf::from(
                "/etc/tarsdock/reg.pass"
            )))
        );
        assert_eq!(m.images[0].id.as_deref(), Some("sha256:abc"));
        assert_eq!(m.images[1].registry, None);
        assert_eq!(m.registry("open").unwrap().username, None);
    }

    #[test]
    fn refuses_inconsistent_manifests() {
        let cases = [
            (
                "[[registry]]\nid=\"a\"\naddress=\"x\"\nusername=\"u\"\npassword=\"p\"\n",
                "inline passwords",
            ),
            (
                "[[registry]]\nid=\"a\"\naddress=\"x\"\nusername=\"u\"\n",
                "needs password-env",
            ),
            (
                "[[registry]]\nid=\"a\"\naddress=\"x\"\npassword-env=\"P\"\n",
                "without a username",
            ),
            (
                "[[registry]]\nid=\"a\"\naddress=\"x\"\nusername=\"u\"\npassword-env=\"P\"\npassword-file=\"f\"\n",
                "not both",
            ),
            (
                "[[registry]]\nid=\"a\"\naddress=\"x\"\n[[registry]]\nid=\"a\"\naddress=\"y\"\n",
                "twice",
            ),
            ("[[image]]\nimage=\"x\"\nregistry=\"nope\"\n", "not defined"),
            ("[[image]]\nimage=\"a b\"\n", "whitespace"),
            ("[[image]]\nimage=\"x\"\n[[image]]\nimage=\"x\"\n", "twice"),
            ("[[image]]\nimage=\"x\"\ntag=\"y\"\n", "unknown field"),
            ("[[image]\n", "m.toml"),
        ];
        for (text, needle) in cases {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.contains(needle), "{text:?}: {error}");
        }
    }

    #[test]
    fn credentials_from_env_and_private_files() {
        let m = parse(GOOD).unwrap();
        let local = m.registry("local").unwrap();
        let auth = local
            .credentials_with(|v| (v == "PASS").then(|| "s3cret\n".to_owned()))
            .unwrap()
            .unwrap();
        assert_eq!(auth.password, "s3cret");
        assert_eq!(auth.server_address.as_deref(), Some("127.0.0.1:5000"));
        let missing = local.credentials_with(|_| None).unwrap_err().to_string();
        assert!(missing.contains("PASS is not set"), "{missing}");
        assert!(
            m.registry("open")
                .unwrap()
                .credentials_with(|_| None)
                .unwrap()
                .is_none()
        );

        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p");
        std::fs::write(&file, "filepass\n").unwrap();
        let spec = RegistrySpec {
            id: "f".into(),
            address: "x".into(),
            username: Some("u".into()),
            password: Some(PasswordSource::File(file.clone())),
        };
        // Readable by everyone, or by a group (the mode of /etc/shadow): refused.
        for mode in [0o644, 0o640] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            let error = spec.credentials().unwrap_err().to_string();
            assert!(error.contains("group and others"), "{error}");
            assert!(error.starts_with("registry f: "), "{error}");
            assert!(!error.contains("filepass"), "{error}");
        }
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(spec.credentials().unwrap().unwrap().password, "filepass");
    }
}
