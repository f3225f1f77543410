//! `tars_start.sh` exactly as tarsnode's `CommandStart::prepareScript` writes it, per server
//! type and run mode, and the service layout it refers to (`CommandLoad::updateConfigFile`).
//!
//! Pure: no I/O. The text follows upstream, including its quirks:
//! - the options of the command line are joined by `TC_Common::tostr(vector)`, which writes a
//!   space after every item, so the command ends in a space;
//! - in container mode the command is the last line and has no newline;
//! - php daemonizes, so in container mode a `while true; do sleep 1; done` keeps PID 1 alive.
//!
//! Where tarsdock differs, on purpose:
//! - every value tarsdock itself puts into the script — paths (tars path, log path, server
//!   directory, config file), names from the package (the executable, the node.js directory) —
//!   is quoted for the shell (`shlex`: a plain path stays as upstream writes it, anything else
//!   is single-quoted), so a path with a space or `;` neither breaks the script nor runs a
//!   command. The values upstream writes raw ([`lowering::script::RAW_SCRIPT_KEYS`]: `env`,
//!   `jvmparams`, `classpath`, `mainclass`, the interpreters, the php entrance) stay raw, with
//!   upstream's meaning; `TARS-H001` warns when one holds shell syntax;
//! - in container mode the command is run with `exec` (not php, which daemonizes): the server
//!   replaces `sh` as PID 1, so the engine's SIGTERM reaches it. Upstream leaves `sh` as PID 1,
//!   which acts on SIGTERM only after its foreground child has exited, so `docker stop` always
//!   ended in SIGKILL (BENCHMARKS.md "Stopping a real server").
//!
//! Native mode sources `/etc/profile`, runs the command in the background and records its pid
//! in `tars_start.sh.pid` (relative to the working directory, as upstream). Upstream's native
//! php script puts ` &` on a line of its own (a shell syntax error); here php's native command
//! is backgrounded like the others.

use std::borrow::Cow;
use std::fmt;

use lowering::paths::simplify_directory;
use parser::Config;
use serde::Serialize;

/// The Tars server types tarsnode starts with a generated script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerType {
    Cpp,
    Go,
    Java,
    Nodejs,
    Php,
}

impl ServerType {
    /// Every type, for messages.
    pub const ALL: [Self; 5] = [Self::Cpp, Self::Go, Self::Java, Self::Nodejs, Self::Php];

    /// Parses `cpp`, `go`, `java`, `nodejs`, `php`, or the registry's `tars_cpp`, … spelling.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name.strip_prefix("tars_").unwrap_or(name) {
            "cpp" => Some(Self::Cpp),
            "go" => Some(Self::Go),
            "java" => Some(Self::Java),
            "nodejs" | "node" => Some(Self::Nodejs),
            "php" => Some(Self::Php),
            _ => None,
        }
    }

    /// Whether the container script may `exec` the server (it stays in the foreground; php
    /// daemonizes and needs `sh` to keep PID 1 alive).
    #[must_use]
    pub const fn can_exec(self) -> bool {
        !matches!(self, Self::Php)
    }

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cpp => "cpp",
            Self::Go => "go",
            Self::Java => "java",
            Self::Nodejs => "nodejs",
            Self::Php => "php",
        }
    }
}

impl fmt::Display for ServerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the service runs: `run_type == "container"` or anything else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    #[default]
    Container,
    Native,
}

impl RunMode {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Container => "container",
            Self::Native => "native",
        }
    }
}

/// The directories and files of one service on the node, as tarsnode lays them out.
///
/// All paths are absolute strings in upstream's spelling: `exe_path` and `lib_path` end in `/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Layout {
    pub app: String,
    pub server: String,
    /// `<tars path>/tarsnode/data`, tarsnode's data directory.
    pub data_dir: String,
    /// `<data dir>/App.Server`.
    pub server_dir: String,
    /// `<server dir>/bin/`: the unpacked package and `tars_start.sh`.
    pub exe_path: String,
    /// `<server dir>/conf/`.
    pub conf_dir: String,
    /// `<server dir>/data/` (the `datapath` macro).
    pub data_path: String,
    /// `<data dir>/lib/`, on `LD_LIBRARY_PATH` (not mounted, as upstream).
    pub lib_path: String,
    /// `<server dir>/conf/App.Server.config.conf`.
    pub config_file: String,
    /// The log path given to services (the `logpath` macro), ending in `/`.
    pub log_path: String,
    /// `<log path>/App/Server/`: where the service writes its logs.
    pub log_dir: String,
    /// `<exe path>tars_start.sh`.
    pub start_script: String,
}

impl Layout {
    /// The layout of `App.Server` under tarsnode's `tars_path` with logs under `log_path`.
    #[must_use]
    pub fn new(tars_path: &str, log_path: &str, app: &str, server: &str) -> Self {
        let data_dir = simplify_directory(&format!("{tars_path}/tarsnode/data"));
        let server_dir = simplify_directory(&format!("{data_dir}/{app}.{server}"));
        let log_path = format!("{}/", simplify_directory(log_path));
        Self {
            app: app.to_owned(),
            server: server.to_owned(),
            exe_path: format!("{server_dir}/bin/"),
            conf_dir: format!("{server_dir}/conf/"),
            data_path: format!("{server_dir}/data/"),
            lib_path: format!("{data_dir}/lib/"),
            config_file: format!("{server_dir}/conf/{app}.{server}.config.conf"),
            log_dir: format!("{log_path}{app}/{server}/"),
            start_script: format!("{server_dir}/bin/tars_start.sh"),
            log_path,
            data_dir,
            server_dir,
        }
    }

    /// `App.Server`.
    #[must_use]
    pub fn server_id(&self) -> String {
        format!("{}.{}", self.app, self.server)
    }

    /// The macros tarsnode derives from the layout (`CommandLoad`), which win over the node
    /// inputs: `app`, `server`, `serverid`, `modulename`, `basepath`, `datapath`, `logpath`.
    #[must_use]
    pub fn macros(&self) -> [(&'static str, String); 7] {
        [
            ("app", self.app.clone()),
            ("server", self.server.clone()),
            ("serverid", self.server_id()),
            ("modulename", self.server_id()),
            ("basepath", self.exe_path.clone()),
            ("datapath", self.data_path.clone()),
            ("logpath", self.log_path.clone()),
        ]
    }
}

/// What the start script of a type reads from the service's generated config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ScriptSettings {
    /// `/tars/application/server<env>`, split on `;` or `|`, empty items dropped.
    pub env: Vec<String>,
    /// `<java>` (default `java`).
    pub java: Option<String>,
    /// `<nodejs>` (default `node`).
    pub nodejs: Option<String>,
    /// `<php>` (default `php`).
    pub php: Option<String>,
    pub jvm_params: String,
    pub class_path: String,
    pub main_class: Option<String>,
    pub package_format: String,
    /// php: `<entrance>`; default `<server dir>/bin/src/index.php`.
    pub entrance: Option<String>,
}

impl ScriptSettings {
    /// Reads the settings from the generated config (`/tars/application/server<...>`).
    #[must_use]
    pub fn from_config(config: &Config) -> Self {
        let get = |key: &str| -> Option<String> {
            config
                .get(format!("/tars/application/server<{key}>").as_bytes())
                .ok()
                .flatten()
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        // Every key read here that reaches the script raw is on lowering's list, which the
        // TARS-H001 check reads too.
        let raw = |key: &str| {
            debug_assert!(
                lowering::script::RAW_SCRIPT_KEYS
                    .iter()
                    .any(|k| k.key == key)
            );
            get(key)
        };
        Self {
            env: raw("env")
                .map(|env| {
                    env.split([';', '|'])
                        .filter(|item| !item.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            java: raw("java").filter(|v| !v.is_empty()),
            nodejs: raw("nodejs").filter(|v| !v.is_empty()),
            php: raw("php").filter(|v| !v.is_empty()),
            jvm_params: raw("jvmparams").unwrap_or_default(),
            class_path: raw("classpath").unwrap_or_default(),
            main_class: raw("mainclass").filter(|m| !m.is_empty()),
            package_format: get("packageFormat").unwrap_or_else(|| "tgz".to_owned()),
            entrance: raw("entrance").filter(|e| !e.is_empty()),
        }
    }
}

/// The executable a server type starts, decided from the unpacked package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Executable {
    /// What the command line starts: `<exe path><Server>` for cpp/go, the interpreter
    /// otherwise.
    pub program: String,
    /// nodejs: the directory of the package's `package.json` (or the exe path).
    pub nodejs_dir: Option<String>,
}

/// The whole script for `server_type` in `mode`.
#[must_use]
pub fn start_script(
    server_type: ServerType,
    mode: RunMode,
    layout: &Layout,
    settings: &ScriptSettings,
    executable: &Executable,
) -> String {
    let mut out = String::from("#!/bin/sh\n");
    if mode == RunMode::Native {
        out.push_str(". /etc/profile\n");
    }
    for item in &settings.env {
        out.push_str(&format!("export {item}\n"));
    }
    out.push_str(&format!(
        "export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:{}:{}\n",
        quote(&layout.exe_path),
        quote(&layout.lib_path)
    ));
    out.push_str("trap 'exit' SIGTERM SIGINT\n");
    out.push_str("pid=0\n");
    out.push('\n');
    if mode == RunMode::Container && server_type.can_exec() {
        out.push_str("exec ");
    }
    out.push_str(&command_line(server_type, layout, settings, executable));
    match mode {
        RunMode::Container => {
            if server_type == ServerType::Php {
                out.push_str("\nwhile true; do sleep 1; done\n");
            }
        }
        RunMode::Native => {
            out.push_str(" & pid=$!\necho $pid > tars_start.sh.pid\n");
        }
    }
    out
}

/// The command line (without newline): the program, then every option followed by a space.
/// What tarsdock makes is quoted; the raw template values are not (module documentation).
#[must_use]
pub fn command_line(
    server_type: ServerType,
    layout: &Layout,
    settings: &ScriptSettings,
    executable: &Executable,
) -> String {
    let conf = quote(&layout.config_file);
    let mut options: Vec<String> = Vec::new();
    match server_type {
        ServerType::Cpp | ServerType::Go => options.push(format!("--config={conf}")),
        ServerType::Java => {
            options.push(format!("-Dconfig={conf}"));
            let main_class = settings
                .main_class
                .clone()
                .unwrap_or_else(|| default_main_class(&layout.app, &layout.server));
            let rest = if settings.package_format == "jar" {
                format!("{} {main_class}", settings.jvm_params)
            } else {
                format!(
                    "{} -cp {}/* {main_class}",
                    settings.jvm_params, settings.class_path
                )
            };
            options.extend(words(&rest));
        }
        ServerType::Nodejs => {
            options.push(
                quote(&simplify_directory(&format!(
                    "{}/tars_nodejs/node-agent/bin/node-agent",
                    layout.exe_path
                )))
                .into_owned(),
            );
            let dir = executable
                .nodejs_dir
                .clone()
                .unwrap_or_else(|| simplify_directory(&layout.exe_path));
            options.push(quote(&dir).into_owned());
            options.push("-c".to_owned());
            options.push(conf.into_owned());
        }
        ServerType::Php => {
            // A configured entrance is raw (upstream); the default one is a path tarsdock made.
            options.push(
                settings
                    .entrance
                    .clone()
                    .unwrap_or_else(|| quote(&php_entrance(layout, settings)).into_owned()),
            );
            options.push(format!("--config={conf}"));
        }
    }
    // cpp/go run a file of the package (quoted); the others an interpreter from the config.
    let program = match server_type {
        ServerType::Cpp | ServerType::Go => quote(&executable.program),
        _ => Cow::Borrowed(executable.program.as_str()),
    };
    let mut line = format!("{program} ");
    for option in options {
        line.push_str(&option);
        line.push(' ');
    }
    line
}

/// `text` as one shell word: unchanged when it has nothing the shell would act on (a plain
/// path), else single-quoted. NUL cannot be in a shell word (nor in a path); it is dropped.
#[must_use]
pub fn quote(text: &str) -> Cow<'_, str> {
    match shlex::try_quote(text) {
        Ok(quoted) => quoted,
        Err(_) => Cow::Owned(
            shlex::try_quote(&text.replace('\0', ""))
                .map(Cow::into_owned)
                .unwrap_or_default(),
        ),
    }
}

/// php's entry script: `<entrance>`, else `<server dir>/bin/src/index.php`.
#[must_use]
pub fn php_entrance(layout: &Layout, settings: &ScriptSettings) -> String {
    settings
        .entrance
        .clone()
        .unwrap_or_else(|| format!("{}/bin/src/index.php", layout.server_dir))
}

/// The `mainclass` macro's default: `com.qq.<lower app>.<lower server>.<Server>`.
#[must_use]
pub fn default_main_class(app: &str, server: &str) -> String {
    format!(
        "com.qq.{}.{}.{server}",
        app.to_lowercase(),
        server.to_lowercase()
    )
}

/// The interpreter a type runs (`java`, `node`, `php`), from the config or the default.
#[must_use]
pub fn interpreter(server_type: ServerType, settings: &ScriptSettings) -> Option<String> {
    let (configured, default) = match server_type {
        ServerType::Cpp | ServerType::Go => return None,
        ServerType::Java => (&settings.java, "java"),
        ServerType::Nodejs => (&settings.nodejs, "node"),
        ServerType::Php => (&settings.php, "php"),
    };
    Some(configured.clone().unwrap_or_else(|| default.to_owned()))
}

/// `TC_Common::sepstr(s, " \t")`: words, empty ones dropped.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split([' ', '\t'])
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout::new(
            "/usr/local/app/tars/",
            "/usr/local/app/tars/app_log",
            "Test",
            "HelloServer",
        )
    }

    fn cpp() -> Executable {
        Executable {
            program: "/usr/local/app/tars/tarsnode/data/Test.HelloServer/bin/HelloServer".into(),
            nodejs_dir: None,
        }
    }

    #[test]
    fn layout_is_tarsnodes() {
        let l = layout();
        assert_eq!(
            l.server_dir,
            "/usr/local/app/tars/tarsnode/data/Test.HelloServer"
        );
        assert_eq!(
            l.exe_path,
            "/usr/local/app/tars/tarsnode/data/Test.HelloServer/bin/"
        );
        assert_eq!(l.lib_path, "/usr/local/app/tars/tarsnode/data/lib/");
        assert_eq!(
            l.config_file,
            "/usr/local/app/tars/tarsnode/data/Test.HelloServer/conf/Test.HelloServer.config.conf"
        );
        assert_eq!(l.log_path, "/usr/local/app/tars/app_log/");
        assert_eq!(l.log_dir, "/usr/local/app/tars/app_log/Test/HelloServer/");
        assert_eq!(
            l.start_script,
            "/usr/local/app/tars/tarsnode/data/Test.HelloServer/bin/tars_start.sh"
        );
        assert_eq!(
            l.data_path,
            "/usr/local/app/tars/tarsnode/data/Test.HelloServer/data/"
        );
    }

    #[test]
    fn cpp_container_script_is_upstreams() {
        let settings = ScriptSettings {
            env: vec!["A=1".into(), "B=2".into()],
            ..ScriptSettings::default()
        };
        let text = start_script(
            ServerType::Cpp,
            RunMode::Container,
            &layout(),
            &settings,
            &cpp(),
        );
        assert_eq!(
            text,
            "#!/bin/sh\n\
             export A=1\n\
             export B=2\n\
             export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:/usr/local/app/tars/tarsnode/data/Test.HelloServer/bin/:/usr/local/app/tars/tarsnode/data/lib/\n\
             trap 'exit' SIGTERM SIGINT\n\
             pid=0\n\
             \n\
             exec /usr/local/app/tars/tarsnode/data/Test.HelloServer/bin/HelloServer \
             --config=/usr/local/app/tars/tarsnode/data/Test.HelloServer/conf/Test.HelloServer.config.conf "
        );
    }

    #[test]
    fn native_script_sources_profile_and_backgrounds() {
        let text = start_script(
            ServerType::Go,
            RunMode::Native,
            &layout(),
            &ScriptSettings::default(),
            &cpp(),
        );
        assert!(text.starts_with("#!/bin/sh\n. /etc/profile\nexport LD_LIBRARY_PATH="));
        assert!(
            text.ends_with(".config.conf  & pid=$!\necho $pid > tars_start.sh.pid\n"),
            "{text}"
        );
    }

    #[test]
    fn php_keeps_pid_one_alive_in_containers() {
        let exe = Executable {
            program: "php".into(),
            nodejs_dir: None,
        };
        let text = start_script(
            ServerType::Php,
            RunMode::Container,
            &layout(),
            &ScriptSettings::default(),
            &exe,
        );
        assert!(
            text.ends_with(
                "\n\nphp /usr/local/app/tars/tarsnode/data/Test.HelloServer/bin/src/index.php \
                 --config=/usr/local/app/tars/tarsnode/data/Test.HelloServer/conf/Test.HelloServer.config.conf \
                 \nwhile true; do sleep 1; done\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn java_with_and_without_classpath() {
        let exe = Executable {
            program: "java".into(),
            nodejs_dir: None,
        };
        let mut settings = ScriptSettings {
            jvm_params: "-Xms256m  -Xmx512m".into(),
            class_path: "/x/bin/lib".into(),
            package_format: "war".into(),
            ..ScriptSettings::default()
        };
        let line = command_line(ServerType::Java, &layout(), &settings, &exe);
        assert_eq!(
            line,
            "java -Dconfig=/usr/local/app/tars/tarsnode/data/Test.HelloServer/conf/Test.HelloServer.config.conf \
             -Xms256m -Xmx512m -cp /x/bin/lib/* com.qq.test.helloserver.HelloServer "
        );
        settings.package_format = "jar".into();
        settings.main_class = Some("-jar /x/bin/app.jar".into());
        let line = command_line(ServerType::Java, &layout(), &settings, &exe);
        assert!(
            line.ends_with("-Xms256m -Xmx512m -jar /x/bin/app.jar "),
            "{line}"
        );
    }

    #[test]
    fn nodejs_runs_the_node_agent() {
        let exe = Executable {
            program: "node".into(),
            nodejs_dir: Some("/usr/local/app/tars/tarsnode/data/Test.HelloServer/bin/app".into()),
        };
        let line = command_line(
            ServerType::Nodejs,
            &layout(),
            &ScriptSettings::default(),
            &exe,
        );
        assert_eq!(
            line,
            "node /usr/local/app/tars/tarsnode/data/Test.HelloServer/bin/tars_nodejs/node-agent/bin/node-agent \
             /usr/local/app/tars/tarsnode/data/Test.HelloServer/bin/app -c \
             /usr/local/app/tars/tarsnode/data/Test.HelloServer/conf/Test.HelloServer.config.conf "
        );
    }

    #[test]
    fn paths_are_quoted_and_raw_values_are_not() {
        let layout = Layout::new("/srv/a b;touch x", "/logs/$(id)", "Test", "HelloServer");
        let exe = Executable {
            program: format!("{}it's Server", layout.exe_path),
            nodejs_dir: None,
        };
        let settings = ScriptSettings {
            env: vec!["PATH=$PATH:/x".into()],
            ..ScriptSettings::default()
        };
        let text = start_script(
            ServerType::Cpp,
            RunMode::Container,
            &layout,
            &settings,
            &exe,
        );
        // sh reads it back as the words meant: each path one word, nothing run.
        let words = shlex::split(text.lines().last().unwrap()).unwrap();
        assert_eq!(
            words,
            [
                "exec",
                "/srv/a b;touch x/tarsnode/data/Test.HelloServer/bin/it's Server",
                "--config=/srv/a b;touch x/tarsnode/data/Test.HelloServer/conf/Test.HelloServer.config.conf",
            ]
        );
        assert!(
            text.contains("export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:'/srv/a b;touch x/tarsnode/data/Test.HelloServer/bin/':"),
            "{text}"
        );
        assert!(text.contains("export PATH=$PATH:/x\n"), "{text}");
    }

    #[test]
    fn every_raw_key_is_one_lowering_knows() {
        // Every key on lowering's list is read, and reaches the script as written.
        let mut text = String::from("<tars>\n<application>\n<server>\n");
        for raw in lowering::script::RAW_SCRIPT_KEYS {
            text.push_str(&format!("{}=RAW_{}\n", raw.key, raw.key));
        }
        text.push_str("packageFormat=war\n</server>\n</application>\n</tars>\n");
        let config = parser::parse(text.into_bytes()).config;
        let settings = ScriptSettings::from_config(&config);
        let mut scripts = String::new();
        for server_type in ServerType::ALL {
            let exe = Executable {
                program: interpreter(server_type, &settings).unwrap_or_else(|| "/x/S".into()),
                nodejs_dir: None,
            };
            scripts.push_str(&start_script(
                server_type,
                RunMode::Container,
                &layout(),
                &settings,
                &exe,
            ));
        }
        for raw in lowering::script::RAW_SCRIPT_KEYS {
            assert!(scripts.contains(&format!("RAW_{}", raw.key)), "{}", raw.key);
        }
    }

    #[test]
    fn php_is_not_execd() {
        let exe = Executable {
            program: "php".into(),
            nodejs_dir: None,
        };
        let text = start_script(
            ServerType::Php,
            RunMode::Container,
            &layout(),
            &ScriptSettings::default(),
            &exe,
        );
        assert!(!text.contains("exec "), "{text}");
        let text = start_script(
            ServerType::Java,
            RunMode::Native,
            &layout(),
            &ScriptSettings::default(),
            &exe,
        );
        assert!(!text.contains("exec "), "{text}");
    }

    #[test]
    fn settings_from_config() {
        let config = parser::parse(
            b"<tars>\n<application>\n<server>\nenv=A=1;;B=2|C=3\nphp=/opt/php/bin/php\n\
              entrance=/x/index.php\n</server>\n</application>\n</tars>\n"
                .to_vec(),
        )
        .config;
        let settings = ScriptSettings::from_config(&config);
        assert_eq!(settings.env, ["A=1", "B=2", "C=3"]);
        assert_eq!(
            interpreter(ServerType::Php, &settings).as_deref(),
            Some("/opt/php/bin/php")
        );
        assert_eq!(settings.entrance.as_deref(), Some("/x/index.php"));
        assert_eq!(interpreter(ServerType::Cpp, &settings), None);
        assert_eq!(
            ServerType::from_name("tars_nodejs"),
            Some(ServerType::Nodejs)
        );
        assert_eq!(ServerType::from_name("rust"), None);
    }
}
