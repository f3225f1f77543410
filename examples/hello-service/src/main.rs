//! `hello-service`: a tiny Tars-style service used as the example (and test subject) for
//! running Tars services in containers.
//!
//! It behaves the way tarsnode expects a C++/Go Tars service to behave, minus the Tars
//! protocol:
//!
//! - it is started as `hello-service --config=PATH` (what tarsnode's `tars_start.sh` runs);
//! - it reads that TC_Config file with the project's `parser` crate;
//! - it listens on the first adapter endpoint it finds under `/tars/application/server`
//!   (`<Adapter> endpoint=tcp -h HOST -p PORT -t TIMEOUT </Adapter>`);
//! - it appends to `<logpath>/<App>/<Server>/<App>.<Server>.log`, where `logpath` is
//!   `/tars/application/server<logpath>` (the Tars log layout).
//!
//! Protocol (line based, plain text): on connect the service sends
//! `hello from App.Server version=VERSION`, where VERSION is the `VERSION` environment
//! variable, else the first line of a file named `VERSION` beside the executable (so a
//! package can carry its version), else the crate version. Then each request line gets one reply line:
//!
//! | request | reply |
//! | --- | --- |
//! | `hello` | the greeting again |
//! | `ipc` | the target of `/proc/self/ns/ipc` (e.g. `ipc:[4026531839]`) |
//! | `net` | the target of `/proc/self/ns/net` |
//! | `pid` | the service's process id (as the service sees it) |
//! | `quit` | `bye`, then the connection closes |
//!
//! Anything else gets `error: unknown request`.
//!
//! Like every TarsCpp server, it serves the admin servant `AdminObj` (`AdminF`) over the Tars
//! protocol on its `local` endpoint (`/tars/application/server<local>`), encoded with the
//! project's `tarsproto` crate — which is how tarsnode and `tarsdock stop` stop it and how
//! `tarsdock notify` talks to it:
//!
//! | call | effect |
//! | --- | --- |
//! | `shutdown()` | answers, logs `shutdown by AdminF`, exits 0 |
//! | `notify("tars.viewstatus")` | the service id, version, adapter, local endpoint, log level |
//! | `notify("tars.setloglevel LEVEL")` | sets the log level (`DEBUG`, `INFO`, …), `set log level [LEVEL] ok` |
//! | `notify("tars.connection")` | the number of connections served |
//! | `notify(other)` | `[notify prefix object num:1]` and `unknown command: …` |
//!
//! The service uses only `std` (and the protocol crate's codec) and exits with status 2 on a
//! bad command line, 3 on a bad or incomplete config, and 4 when it cannot listen or open
//! its log.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tarsproto::Limits;
use tarsproto::admin::{self, ADMIN_SERVANT, AdminRequest};
use tarsproto::packet::{FrameDecoder, RequestPacket};

/// How long a connection may stay idle before the service closes it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest admin request accepted (a command is a short string).
const MAX_ADMIN_FRAME: usize = 64 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config_path = match config_arg(&args) {
        Ok(path) => path,
        Err(message) => {
            report(&format!("hello-service: {message}"));
            report("usage: hello-service --config=PATH");
            return ExitCode::from(2);
        }
    };
    let settings = match Settings::load(&config_path) {
        Ok(settings) => settings,
        Err(message) => {
            report(&format!(
                "hello-service: {}: {message}",
                config_path.display()
            ));
            return ExitCode::from(3);
        }
    };
    match serve(&settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            report(&format!("hello-service: {message}"));
            ExitCode::from(4)
        }
    }
}

/// What the service takes from its config file.
#[derive(Debug)]
struct Settings {
    /// `App.Server`.
    server_id: String,
    /// The adapter whose endpoint is served.
    adapter: String,
    host: String,
    port: u16,
    /// `<logpath>/<App>/<Server>/<App>.<Server>.log`, when a log path is configured.
    log_file: Option<PathBuf>,
    /// The `local` endpoint (`AdminObj`), when configured.
    local: Option<(String, u16)>,
    /// `/tars/application/server<logLevel>`.
    log_level: String,
}

impl Settings {
    fn load(path: &Path) -> Result<Self, String> {
        let bytes = fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
        let parsed = parser::parse(bytes);
        if let Some(error) = &parsed.upstream_error {
            return Err(format!("not a valid TC_Config file: {error}"));
        }
        let config = &parsed.config;
        let get = |path: &str| -> Option<String> {
            config
                .get(path.as_bytes())
                .ok()
                .flatten()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .filter(|v| !v.is_empty())
        };
        let app =
            get("/tars/application/server<app>").ok_or("missing /tars/application/server<app>")?;
        let server = get("/tars/application/server<server>")
            .ok_or("missing /tars/application/server<server>")?;

        // The first adapter domain (in file order) that has an endpoint.
        let adapters = config
            .domain_vector(b"/tars/application/server")
            .map_err(|e| format!("{e:?}"))?;
        let (adapter, endpoint) = adapters
            .iter()
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .find_map(|name| {
                get(&format!("/tars/application/server/{name}<endpoint>"))
                    .map(|endpoint| (name, endpoint))
            })
            .ok_or("no adapter with an endpoint under /tars/application/server")?;
        let (host, port) = parse_endpoint(&endpoint)
            .map_err(|e| format!("adapter {adapter}: endpoint `{endpoint}`: {e}"))?;

        // `local` may be absent or unusable (a template's `${local}` left unexpanded): then
        // there is no admin servant, as upstream skips it.
        let local = get("/tars/application/server<local>").and_then(|e| parse_endpoint(&e).ok());
        let log_level =
            get("/tars/application/server<logLevel>").unwrap_or_else(|| "DEBUG".to_owned());
        let log_file = get("/tars/application/server<logpath>").map(|logpath| {
            Path::new(&logpath)
                .join(&app)
                .join(&server)
                .join(format!("{app}.{server}.log"))
        });
        Ok(Self {
            server_id: format!("{app}.{server}"),
            adapter,
            host,
            port,
            log_file,
            local,
            log_level,
        })
    }
}

/// Reads `--config=PATH` or `--config PATH`.
fn config_arg(args: &[String]) -> Result<PathBuf, String> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if let Some(path) = arg.strip_prefix("--config=") {
            return Ok(PathBuf::from(path));
        }
        if arg == "--config" {
            return iter
                .next()
                .map(PathBuf::from)
                .ok_or_else(|| "--config needs a path".to_owned());
        }
    }
    Err("missing --config=PATH".to_owned())
}

/// Parses a Tars endpoint `tcp -h HOST -p PORT [-t TIMEOUT]` into host and port.
fn parse_endpoint(endpoint: &str) -> Result<(String, u16), String> {
    let mut words = endpoint.split_whitespace();
    match words.next() {
        Some("tcp") => {}
        Some(other) => return Err(format!("protocol `{other}` is not served (only tcp)")),
        None => return Err("empty endpoint".to_owned()),
    }
    let mut host = None;
    let mut port = None;
    while let Some(flag) = words.next() {
        let value = words.next();
        match (flag, value) {
            ("-h", Some(value)) => host = Some(value.to_owned()),
            ("-p", Some(value)) => {
                port = Some(
                    value
                        .parse::<u16>()
                        .map_err(|_| format!("bad port `{value}`"))?,
                );
            }
            (_, Some(_)) => {}
            (flag, None) => return Err(format!("`{flag}` has no value")),
        }
    }
    Ok((host.ok_or("no `-h HOST`")?, port.ok_or("no `-p PORT`")?))
}

fn serve(settings: &Settings) -> Result<(), String> {
    let log = Log::open(settings.log_file.as_deref())?;
    let listener = TcpListener::bind((settings.host.as_str(), settings.port))
        .map_err(|e| format!("cannot listen on {}:{}: {e}", settings.host, settings.port))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let greeting = format!("hello from {} version={}", settings.server_id, version());
    log.line(&format!(
        "start {} adapter={} listen={local} pid={}",
        settings.server_id,
        settings.adapter,
        std::process::id()
    ));
    report(&format!("{} listening on {local}", settings.server_id));

    let state = Arc::new(State {
        server_id: settings.server_id.clone(),
        adapter: format!("{} {}:{}", settings.adapter, settings.host, settings.port),
        local: settings
            .local
            .as_ref()
            .map(|(h, p)| format!("{h}:{p}"))
            .unwrap_or_default(),
        log_level: Mutex::new(settings.log_level.clone()),
        connections: AtomicU64::new(0),
    });
    if let Some((host, port)) = &settings.local {
        let admin = TcpListener::bind((host.as_str(), *port))
            .map_err(|e| format!("cannot listen on the local endpoint {host}:{port}: {e}"))?;
        let state = Arc::clone(&state);
        let log = log.clone();
        std::thread::spawn(move || serve_admin(&admin, &state, &log));
    }

    let greeting = Arc::new(greeting);
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                state.connections.fetch_add(1, Ordering::Relaxed);
                let greeting = Arc::clone(&greeting);
                let log = log.clone();
                std::thread::spawn(move || {
                    let peer = stream
                        .peer_addr()
                        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
                    log.line(&format!("connection from {peer}"));
                    if let Err(e) = converse(stream, &greeting) {
                        log.line(&format!("connection from {peer} failed: {e}"));
                    }
                });
            }
            Err(e) => log.line(&format!("accept failed: {e}")),
        }
    }
    Ok(())
}

/// What the admin servant reports and changes.
struct State {
    server_id: String,
    adapter: String,
    local: String,
    log_level: Mutex<String>,
    connections: AtomicU64,
}

/// Serves `AdminObj` on the local endpoint, one thread per connection.
fn serve_admin(listener: &TcpListener, state: &Arc<State>, log: &Log) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let state = Arc::clone(state);
                let log = log.clone();
                std::thread::spawn(move || {
                    if let Err(e) = admin_connection(stream, &state, &log) {
                        log.line(&format!("admin connection failed: {e}"));
                    }
                });
            }
            Err(e) => log.line(&format!("admin accept failed: {e}")),
        }
    }
}

/// Answers Tars requests on one admin connection until it closes or idles out.
fn admin_connection(mut stream: TcpStream, state: &State, log: &Log) -> io::Result<()> {
    use std::io::Read as _;
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let mut frames = FrameDecoder::new(MAX_ADMIN_FRAME);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        frames.push(&chunk[..n]);
        while let Some(body) = frames
            .next_frame()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        {
            let request = RequestPacket::decode(&body, Limits::default())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let call = if request.servant_name == ADMIN_SERVANT {
                AdminRequest::from_packet(&request, Limits::default())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            } else {
                AdminRequest::Unknown(request.func_name.clone())
            };
            let (ret, buffer, desc) = match &call {
                AdminRequest::Shutdown => (0, Vec::new(), String::new()),
                AdminRequest::Notify(command) => {
                    let answer = notify(state, command);
                    log.line(&format!("notify {command:?}"));
                    (
                        0,
                        admin::notify_result(&answer).unwrap_or_default(),
                        String::new(),
                    )
                }
                // Upstream's TARSSERVERNOSERVANTERR / TARSSERVERNOFUNCERR.
                AdminRequest::Unknown(func) if request.servant_name == ADMIN_SERVANT => {
                    (-3, Vec::new(), format!("no function {func}"))
                }
                AdminRequest::Unknown(_) => (-4, Vec::new(), "no such servant".to_owned()),
            };
            if request.packet_type != tarsproto::packet::PACKET_ONEWAY {
                let response = admin::response(&request, ret, buffer, &desc)
                    .and_then(|r| r.to_frame())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                stream.write_all(&response)?;
            }
            if call == AdminRequest::Shutdown {
                log.line("shutdown by AdminF");
                report(&format!("{} shutdown by AdminF", state.server_id));
                std::process::exit(0);
            }
        }
    }
}

/// The answer to `AdminF::notify(command)`, in the form TarsCpp servers give.
fn notify(state: &State, command: &str) -> String {
    let mut words = command.split_whitespace();
    let verb = words.next().unwrap_or_default();
    let body = match verb {
        "tars.viewstatus" => format!(
            "server      {}\nversion     {}\nadapter     {}\nlocal       {}\nloglevel    {}\nconnections {}",
            state.server_id,
            version(),
            state.adapter,
            state.local,
            state
                .log_level
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            state.connections.load(Ordering::Relaxed)
        ),
        "tars.setloglevel" => match words.next().map(str::to_ascii_uppercase) {
            Some(level)
                if ["NONE", "ERROR", "WARN", "INFO", "DEBUG", "TARS"].contains(&level.as_str()) =>
            {
                let mut current = state
                    .log_level
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                current.clone_from(&level);
                format!("set log level [{level}] ok")
            }
            _ => "set log level failed: level must be NONE, ERROR, WARN, INFO, DEBUG or TARS"
                .to_owned(),
        },
        "tars.connection" => format!(
            "[adapter:{}] [connections:{}]",
            state.adapter,
            state.connections.load(Ordering::Relaxed)
        ),
        _ => format!("unknown command: {command}"),
    };
    format!("[notify prefix object num:1]\n{body}")
}

/// Greets, then answers request lines until `quit`, end of input or the idle timeout.
fn converse(stream: TcpStream, greeting: &str) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    writeln!(writer, "{greeting}")?;
    for line in BufReader::new(stream).lines() {
        let line = line?;
        let reply = match line.trim() {
            "hello" => greeting.to_owned(),
            "ipc" => namespace("ipc"),
            "net" => namespace("net"),
            "pid" => std::process::id().to_string(),
            "quit" => {
                writeln!(writer, "bye")?;
                return Ok(());
            }
            _ => "error: unknown request".to_owned(),
        };
        writeln!(writer, "{reply}")?;
    }
    Ok(())
}

/// The target of `/proc/self/ns/<kind>`, or an `error:` line.
fn namespace(kind: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{kind}")).map_or_else(
        |e| format!("error: /proc/self/ns/{kind}: {e}"),
        |target| target.display().to_string(),
    )
}

fn version() -> String {
    std::env::var("VERSION")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(version_file)
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned())
}

/// The first line of `VERSION` beside the executable, when there is one.
fn version_file() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let text = fs::read_to_string(exe.parent()?.join("VERSION")).ok()?;
    text.lines()
        .next()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The service log: one timestamped line per event, shared by the connection threads.
#[derive(Clone)]
struct Log(Option<Arc<Mutex<File>>>);

impl Log {
    fn open(path: Option<&Path>) -> Result<Self, String> {
        let Some(path) = path else {
            return Ok(Self(None));
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create log dir {}: {e}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open log {}: {e}", path.display()))?;
        Ok(Self(Some(Arc::new(Mutex::new(file)))))
    }

    fn line(&self, text: &str) {
        let Some(file) = &self.0 else { return };
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // A poisoned lock only means another thread panicked mid-write; keep logging.
        let mut file = file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Logging is best effort: a full disk must not stop the service from answering.
        let _ = writeln!(file, "{seconds} {text}");
    }
}

fn report(text: &str) {
    let _ = writeln!(io::stderr(), "{text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_is_parsed() {
        assert_eq!(
            parse_endpoint("tcp -h 0.0.0.0 -p 10001 -t 60000"),
            Ok(("0.0.0.0".to_owned(), 10001))
        );
        assert!(parse_endpoint("udp -h 0.0.0.0 -p 1").is_err());
        assert!(parse_endpoint("tcp -h 0.0.0.0").is_err());
        assert!(parse_endpoint("tcp -h 0.0.0.0 -p x").is_err());
        assert!(parse_endpoint("tcp -h").is_err());
    }

    fn state() -> State {
        State {
            server_id: "Test.HelloServer".into(),
            adapter: "Test.HelloServer.HelloObjAdapter 127.0.0.1:1".into(),
            local: "127.0.0.1:2".into(),
            log_level: Mutex::new("DEBUG".into()),
            connections: AtomicU64::new(3),
        }
    }

    #[test]
    fn notify_commands_answer_like_tarscpp() {
        let state = state();
        let status = notify(&state, "tars.viewstatus");
        assert!(
            status.starts_with("[notify prefix object num:1]\n"),
            "{status}"
        );
        assert!(status.contains("loglevel    DEBUG"), "{status}");
        assert_eq!(
            notify(&state, "tars.setloglevel info"),
            "[notify prefix object num:1]\nset log level [INFO] ok"
        );
        assert!(notify(&state, "tars.viewstatus").contains("loglevel    INFO"));
        assert!(notify(&state, "tars.setloglevel LOUD").contains("failed"));
        assert!(notify(&state, "tars.connection").contains("[connections:3]"));
        assert!(notify(&state, "custom.cmd x").ends_with("unknown command: custom.cmd x"));
    }

    #[test]
    fn admin_servant_answers_over_the_tars_protocol() {
        use std::io::Read as _;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(state());
        std::thread::spawn(move || serve_admin(&listener, &state, &Log(None)));
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let call = |stream: &mut TcpStream, servant: &str, func: &str, args: Vec<u8>, id: i32| {
            let request = RequestPacket {
                version: 1,
                request_id: id,
                servant_name: servant.into(),
                func_name: func.into(),
                buffer: args,
                ..RequestPacket::default()
            };
            stream.write_all(&request.to_frame().unwrap()).unwrap();
            let mut frames = FrameDecoder::new(1 << 20);
            let mut chunk = [0u8; 4096];
            loop {
                if let Some(body) = frames.next_frame().unwrap() {
                    return tarsproto::ResponsePacket::decode(&body, Limits::default()).unwrap();
                }
                let n = stream.read(&mut chunk).unwrap();
                assert!(n > 0, "closed");
                frames.push(&chunk[..n]);
            }
        };
        let args = admin::notify_args("tars.viewstatus").unwrap();
        let response = call(&mut stream, ADMIN_SERVANT, "notify", args, 7);
        assert_eq!((response.request_id, response.ret), (7, 0));
        let answer = admin::notify_answer(&response.buffer, Limits::default()).unwrap();
        assert!(answer.contains("server      Test.HelloServer"), "{answer}");
        let response = call(&mut stream, ADMIN_SERVANT, "reboot", Vec::new(), 8);
        assert_eq!(response.ret, -3);
        let response = call(&mut stream, "Other.Obj", "notify", Vec::new(), 9);
        assert_eq!(response.ret, -4);
    }

    #[test]
    fn config_flag_both_spellings() {
        let args = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            config_arg(&args(&["--config=/a.conf"])),
            Ok(PathBuf::from("/a.conf"))
        );
        assert_eq!(
            config_arg(&args(&["x", "--config", "/b.conf"])),
            Ok(PathBuf::from("/b.conf"))
        );
        assert!(config_arg(&args(&["--config"])).is_err());
        assert!(config_arg(&args(&[])).is_err());
    }

    #[test]
    fn settings_from_a_tars_config() {
        let dir = std::env::temp_dir().join(format!("hello-service-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("Test.HelloServer.config.conf");
        fs::write(
            &path,
            "<tars>\n<application>\n<server>\napp=Test\nserver=HelloServer\nlogpath=/logs\n\
             <Test.HelloServer.HelloObjAdapter>\nendpoint=tcp -h 127.0.0.1 -p 10001 -t 60000\n\
             </Test.HelloServer.HelloObjAdapter>\n</server>\n</application>\n</tars>\n",
        )
        .unwrap();
        let settings = Settings::load(&path).unwrap();
        assert_eq!(settings.server_id, "Test.HelloServer");
        assert_eq!(settings.adapter, "Test.HelloServer.HelloObjAdapter");
        assert_eq!(
            (settings.host.as_str(), settings.port),
            ("127.0.0.1", 10001)
        );
        assert_eq!(
            settings.log_file,
            Some(PathBuf::from("/logs/Test/HelloServer/Test.HelloServer.log"))
        );
        fs::write(&path, "<tars>\n</tars>\n").unwrap();
        assert!(Settings::load(&path).unwrap_err().contains("<app>"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
