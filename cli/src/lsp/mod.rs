//! `tarsdock lsp`: a language server over standard input and output.
//!
//! It publishes the findings of `tarsdock lint` (same entry point, same `tarsdock.toml`
//! lookup, same suppression comments) when a template is opened and after every change
//! (incremental sync, full re-lint), offers hover on keys, tags and suppressed codes, and quick
//! fixes (see [`actions`]). Positions are UTF-16 code units, the protocol's default.
//!
//! A template listed in a template index (`[lint] index` of its `tarsdock.toml`, else the
//! `index` of the client's `initializationOptions`) is also resolved in its chain, with the
//! open buffers in place of their files: chain findings are published with its own, and hover
//! shows where a key's value comes from (see [`chain`]). An edit republishes every open member
//! of the same index; saving or a watched change of the index or a member reads it again.

mod actions;
mod chain;
mod completion;
mod config_file;
mod document;
mod hover;
mod symbols;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use lowering::lint::LintOptions;
use tower_lsp_server::jsonrpc::Result as RpcResult;
use tower_lsp_server::ls_types::{
    self as lsp, CodeActionKind, CodeActionOptions, CodeActionParams, CodeActionProviderCapability,
    CodeActionResponse, CompletionOptions, CompletionParams, CompletionResponse,
    DidChangeTextDocumentParams, DidChangeWatchedFilesParams,
    DidChangeWatchedFilesRegistrationOptions, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DidSaveTextDocumentParams, DocumentFormattingParams,
    DocumentSymbolParams, DocumentSymbolResponse, FileSystemWatcher, GlobPattern, Hover,
    HoverParams, HoverProviderCapability, InitializeParams, InitializeResult, InitializedParams,
    MessageType, OneOf, Registration, SaveOptions, ServerCapabilities, ServerInfo,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
    TextDocumentSyncSaveOptions, TextEdit, Uri,
};
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

use self::document::Document;
use crate::config::{self, Overrides, Resolver, Settings};
use crate::exit::Status;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Accepted for editors that pass it; standard input and output are always used.
    #[arg(long)]
    pub(crate) stdio: bool,
}

/// Serves one client until it sends `exit`.
pub(crate) fn run(_args: &Args) -> anyhow::Result<Status> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (service, socket) = LspService::new(|client| Backend {
            client,
            state: Mutex::new(State {
                documents: HashMap::new(),
                resolver: Resolver::new(Overrides::default()),
                initial_index: None,
                indexes: chain::Indexes::default(),
                can_watch_files: false,
                configs: HashMap::new(),
                published: HashMap::new(),
            }),
        });
        Server::new(tokio::io::stdin(), tokio::io::stdout(), socket)
            .serve(service)
            .await;
    });
    Ok(Status::Success)
}

/// The id of the file-watcher registration (see [`Backend::initialized`]).
const WATCH_REGISTRATION: &str = "tarsdock-watched-files";

struct Backend {
    client: Client,
    state: Mutex<State>,
}

struct State {
    documents: HashMap<Uri, Open>,
    resolver: Resolver,
    /// `initializationOptions.index`: the index for documents whose config names none.
    initial_index: Option<PathBuf>,
    indexes: chain::Indexes,
    /// The client lets the server register file watchers (`didChangeWatchedFiles` with
    /// `dynamicRegistration`).
    can_watch_files: bool,
    /// Open `tarsdock.toml` buffers: checked as config files, not linted as templates.
    configs: HashMap<Uri, config_file::Buffer>,
    /// What was last published for each document: an unchanged list is not sent again.
    published: HashMap<Uri, Vec<lsp::Diagnostic>>,
}

struct Open {
    document: Document,
    settings: Arc<Settings>,
    /// The file's path, canonical when it exists (`None` for non-file URIs).
    path: Option<PathBuf>,
}

/// What to send for one document.
struct Publish {
    uri: Uri,
    diagnostics: Vec<tower_lsp_server::ls_types::Diagnostic>,
    version: i32,
}

impl State {
    /// The index that applies to the open document `open`.
    fn index_path(&self, open: &Open) -> Option<PathBuf> {
        open.settings
            .index
            .clone()
            .or_else(|| self.initial_index.clone())
    }

    /// The chain context of document `uri`, with `built` caching one set per index for the
    /// duration of one batch of publishes; and any warning to show.
    fn chain_context(
        &mut self,
        uri: &Uri,
        built: &mut HashMap<PathBuf, Option<Arc<chain::Built>>>,
    ) -> (Option<chain::Context>, Vec<String>) {
        let mut messages = Vec::new();
        let Some(open) = self.documents.get(uri) else {
            return (None, messages);
        };
        let (Some(index_path), Some(path)) = (self.index_path(open), open.path.as_deref()) else {
            return (None, messages);
        };
        let (index, message) = self.indexes.get(&index_path);
        messages.extend(message);
        let Some(index) = index else {
            return (None, messages);
        };
        let Some(name) = index.member(path, Some(path)).and_then(|i| index.name(i)) else {
            return (None, messages);
        };
        let set = match built.get(&index_path) {
            Some(set) => set.clone(),
            None => {
                let buffers: Vec<chain::Buffer<'_>> = self
                    .documents
                    .iter()
                    .filter_map(|(uri, open)| {
                        Some(chain::Buffer {
                            path: open.path.as_deref()?,
                            uri,
                            document: &open.document,
                        })
                    })
                    .collect();
                let set = match index.build(&buffers) {
                    Ok(set) => Some(Arc::new(set)),
                    Err(error) => {
                        messages.extend(self.indexes.warn_once(format!(
                            "tarsdock: {error}; linting without chain context"
                        )));
                        None
                    }
                };
                built.insert(index_path, set.clone());
                set
            }
        };
        (set.map(|set| chain::Context::new(set, name)), messages)
    }

    /// The diagnostics of each of `uris` that is open: its own findings and its chain's.
    fn diagnostics(&mut self, uris: &[Uri]) -> (Vec<Publish>, Vec<String>) {
        let mut built = HashMap::new();
        let mut out = Vec::new();
        let mut messages = Vec::new();
        for uri in uris {
            let (context, message) = self.chain_context(uri, &mut built);
            messages.extend(message);
            let Some(open) = self.documents.get(uri) else {
                continue;
            };
            let mut diagnostics = open.document.lsp_diagnostics(uri);
            if let Some(context) = context {
                let chain = context.diagnostics(uri, &open.settings.options, &diagnostics);
                diagnostics.extend(chain);
                // Stable: the document's own findings keep their order on a tie.
                diagnostics.sort_by_key(|d| (d.range.start.line, d.range.start.character));
            }
            out.push(Publish {
                uri: uri.clone(),
                diagnostics,
                version: open.document.version,
            });
        }
        (out, messages)
    }

    /// `uri` and every other open document that is a member of the same index.
    fn with_chain_members(&mut self, uri: &Uri) -> Vec<Uri> {
        let mut uris = vec![uri.clone()];
        let Some(index_path) = self.documents.get(uri).and_then(|o| self.index_path(o)) else {
            return uris;
        };
        let (Some(index), _) = self.indexes.get(&index_path) else {
            return uris;
        };
        for (other, open) in &self.documents {
            if other != uri
                && self.index_path(open).as_deref() == Some(index_path.as_path())
                && open
                    .path
                    .as_deref()
                    .is_some_and(|p| index.member(p, Some(p)).is_some())
            {
                uris.push(other.clone());
            }
        }
        uris
    }
}

/// The file path of `uri`, canonical when the file exists.
fn file_path(uri: &Uri) -> Option<PathBuf> {
    let path = uri.to_file_path()?.into_owned();
    Some(path.canonicalize().unwrap_or(path))
}

impl Backend {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a document half-edited in a way that
        // matters more than stopping the server; keep serving with what is there.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Publishes the diagnostics of each of `uris` that changed since they were last published
    /// (showing any warning first).
    async fn publish(&self, uris: &[Uri]) {
        let (published, messages) = {
            let mut state = self.state();
            let (mut published, messages) = state.diagnostics(uris);
            published.retain(|p| {
                if state.published.get(&p.uri) == Some(&p.diagnostics) {
                    return false;
                }
                state.published.insert(p.uri.clone(), p.diagnostics.clone());
                true
            });
            (published, messages)
        };
        self.show_warnings(messages).await;
        for Publish {
            uri,
            diagnostics,
            version,
        } in published
        {
            self.client
                .publish_diagnostics(uri, diagnostics, Some(version))
                .await;
        }
    }

    async fn show_warnings(&self, messages: Vec<String>) {
        for message in messages {
            self.client
                .show_message(MessageType::WARNING, message)
                .await;
        }
    }

    /// Settings for `uri` from the nearest `tarsdock.toml`; on a bad file, the defaults and a
    /// message for the user.
    fn settings_for(state: &mut State, uri: &Uri) -> (Arc<Settings>, Option<String>) {
        let path: Option<PathBuf> = uri.to_file_path().map(|p| p.into_owned());
        match state.resolver.settings_for(path.as_deref()) {
            Ok(settings) => (settings, None),
            Err(error) => (
                Arc::new(Settings {
                    options: LintOptions::default(),
                    fail_level: parser::Severity::Error,
                    source: None,
                    index: None,
                }),
                Some(format!("tarsdock: {error:#}; using the default settings")),
            ),
        }
    }

    /// Reads the config files and template indexes again and re-lints every open document.
    async fn reload(&self) {
        let (uris, messages) = {
            let mut state = self.state();
            state.resolver = Resolver::new(Overrides::default());
            state.indexes.clear();
            let uris: Vec<Uri> = state.documents.keys().cloned().collect();
            let mut messages = Vec::new();
            for uri in &uris {
                let (settings, message) = Self::settings_for(&mut state, uri);
                messages.extend(message);
                if let Some(open) = state.documents.get_mut(uri) {
                    open.document.relint(&settings.options);
                    open.settings = settings;
                }
            }
            (uris, messages)
        };
        self.show_warnings(messages).await;
        self.publish(&uris).await;
    }

    /// Reads the template indexes again and republishes every open document.
    async fn reload_chains(&self) {
        let uris: Vec<Uri> = {
            let mut state = self.state();
            state.indexes.clear();
            state.documents.keys().cloned().collect()
        };
        self.publish(&uris).await;
    }

    /// Whether `uri` is a loaded index or a template listed in one.
    fn concerns_chains(&self, uri: &Uri) -> bool {
        uri.to_file_path()
            .is_some_and(|path| self.state().indexes.concerns(&path))
    }
}

fn is_config(uri: &Uri) -> bool {
    uri.path().as_str().ends_with(config::FILE_NAME)
}

/// A TOML file (a config or a template index): never linted as a template.
fn is_toml(uri: &Uri, language: Option<&str>) -> bool {
    language == Some("toml") || uri.path().as_str().ends_with(".toml")
}

/// The `index` of the client's `initializationOptions`, if it is a string.
fn initial_index(options: Option<&serde_json::Value>) -> Option<PathBuf> {
    let index = options?.get("index")?.as_str()?;
    (!index.is_empty()).then(|| Path::new(index).to_path_buf())
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> RpcResult<InitializeResult> {
        {
            let mut state = self.state();
            state.initial_index = initial_index(params.initialization_options.as_ref());
            state.can_watch_files = params
                .capabilities
                .workspace
                .as_ref()
                .and_then(|w| w.did_change_watched_files.as_ref())
                .and_then(|w| w.dynamic_registration)
                .unwrap_or(false);
        }
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                            include_text: Some(false),
                        })),
                        ..TextDocumentSyncOptions::default()
                    },
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                document_formatting_provider: Some(OneOf::Left(true)),
                document_symbol_provider: Some(OneOf::Left(true)),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(vec!["$".to_owned(), "{".to_owned()]),
                    ..CompletionOptions::default()
                }),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
                        ..CodeActionOptions::default()
                    },
                )),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: "tarsdock".to_owned(),
                version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            }),
            ..InitializeResult::default()
        })
    }

    /// Asks the client to report changes to the files a lint depends on beyond the open
    /// buffers: `tarsdock.toml`, template indexes (`*.toml`) and templates (`*.conf`), so that
    /// an edit on disk (a parent, the index, the config) re-lints what it affects. Clients
    /// that cannot register watchers dynamically send such events only if set up to.
    async fn initialized(&self, _: InitializedParams) {
        if !self.state().can_watch_files {
            return;
        }
        let watchers = [
            format!("**/{}", config::FILE_NAME),
            "**/*.toml".to_owned(),
            "**/*.conf".to_owned(),
        ]
        .into_iter()
        .map(|glob| FileSystemWatcher {
            glob_pattern: GlobPattern::String(glob),
            kind: None,
        })
        .collect();
        let options = DidChangeWatchedFilesRegistrationOptions { watchers };
        let registration = Registration {
            id: WATCH_REGISTRATION.to_owned(),
            method: "workspace/didChangeWatchedFiles".to_owned(),
            register_options: serde_json::to_value(options).ok(),
        };
        if let Err(error) = self.client.register_capability(vec![registration]).await {
            let text = format!(
                "tarsdock: the client refused to watch files ({error}); edits on disk are seen on save only"
            );
            self.client.log_message(MessageType::WARNING, text).await;
        }
    }

    async fn shutdown(&self) -> RpcResult<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let item = params.text_document;
        if is_toml(&item.uri, Some(item.language_id.as_str())) {
            if is_config(&item.uri) {
                let buffer = config_file::Buffer::new(item.text);
                let diagnostics = buffer.diagnostics(&item.uri);
                self.state().configs.insert(item.uri.clone(), buffer);
                self.client
                    .publish_diagnostics(item.uri, diagnostics, Some(item.version))
                    .await;
            }
            return;
        }
        let (message, config) = {
            let mut state = self.state();
            let (settings, message) = Self::settings_for(&mut state, &item.uri);
            let config = settings.source.clone();
            let document = Document::new(item.text, item.version, &settings.options);
            let path = file_path(&item.uri);
            state.documents.insert(
                item.uri.clone(),
                Open {
                    document,
                    settings,
                    path,
                },
            );
            (message, config)
        };
        if let Some(message) = message {
            self.client
                .show_message(MessageType::WARNING, message)
                .await;
        }
        if let Some(config) = config {
            let text = format!("{}: settings from {}", item.uri.as_str(), config.display());
            self.client.log_message(MessageType::INFO, text).await;
        }
        let uris = self.state().with_chain_members(&item.uri);
        self.publish(&uris).await;
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let version = params.text_document.version;
        let config = self.state().configs.get_mut(&uri).map(|buffer| {
            buffer.apply_changes(params.content_changes.clone());
            buffer.diagnostics(&uri)
        });
        if let Some(diagnostics) = config {
            self.client
                .publish_diagnostics(uri, diagnostics, Some(version))
                .await;
            return;
        }
        let uris = {
            let mut state = self.state();
            let Some(open) = state.documents.get_mut(&uri) else {
                return;
            };
            let settings = Arc::clone(&open.settings);
            open.document.apply_changes(
                params.content_changes,
                params.text_document.version,
                &settings.options,
            );
            // A parent's edit changes its children's chains.
            state.with_chain_members(&uri)
        };
        self.publish(&uris).await;
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        let uri = &params.text_document.uri;
        if is_config(uri) {
            self.reload().await;
        } else if self.concerns_chains(uri) {
            self.reload_chains().await;
        }
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        if params.changes.iter().any(|change| is_config(&change.uri)) {
            self.reload().await;
        } else if params
            .changes
            .iter()
            .any(|change| self.concerns_chains(&change.uri))
        {
            self.reload_chains().await;
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        // Its children now see the file on disk instead of the buffer.
        let others = {
            let mut state = self.state();
            let mut uris = state.with_chain_members(&uri);
            uris.retain(|u| *u != uri);
            state.documents.remove(&uri);
            state.configs.remove(&uri);
            state.published.remove(&uri);
            uris
        };
        // Clear what the editor shows for a closed file.
        self.client.publish_diagnostics(uri, Vec::new(), None).await;
        self.publish(&others).await;
    }

    async fn hover(&self, params: HoverParams) -> RpcResult<Option<Hover>> {
        let at = params.text_document_position_params;
        let uri = &at.text_document.uri;
        let mut state = self.state();
        let (context, _) = state.chain_context(uri, &mut HashMap::new());
        Ok(state.documents.get(uri).and_then(|open| {
            let offset = open.document.offset(at.position);
            hover::hover(&open.document, offset, context.as_ref())
        }))
    }

    async fn formatting(
        &self,
        params: DocumentFormattingParams,
    ) -> RpcResult<Option<Vec<TextEdit>>> {
        let state = self.state();
        Ok(state
            .documents
            .get(&params.text_document.uri)
            .and_then(|open| open.document.formatted()))
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> RpcResult<Option<DocumentSymbolResponse>> {
        let state = self.state();
        Ok(state
            .documents
            .get(&params.text_document.uri)
            .map(|open| DocumentSymbolResponse::Nested(symbols::symbols(&open.document))))
    }

    async fn completion(&self, params: CompletionParams) -> RpcResult<Option<CompletionResponse>> {
        let at = params.text_document_position;
        let uri = &at.text_document.uri;
        let mut state = self.state();
        let (context, _) = state.chain_context(uri, &mut HashMap::new());
        Ok(state.documents.get(uri).map(|open| {
            let offset = open.document.offset(at.position);
            CompletionResponse::Array(completion::complete(
                &open.document,
                offset,
                context.as_ref(),
            ))
        }))
    }

    async fn code_action(&self, params: CodeActionParams) -> RpcResult<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let state = self.state();
        Ok(state.documents.get(&uri).map(|open| {
            actions::actions(
                &open.document,
                &uri,
                &open.settings.options,
                params.range,
                &params.context.diagnostics,
            )
        }))
    }
}
