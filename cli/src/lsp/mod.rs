//! `tarsdock lsp`: a language server over standard input and output.
//!
//! It publishes the findings of `tarsdock lint` (same entry point, same `tarsdock.toml`
//! lookup, same suppression comments) when a template is opened and after every change
//! (incremental sync, full re-lint), offers hover on keys, tags and suppressed codes, and quick
//! fixes (see [`actions`]). Positions are UTF-16 code units, the protocol's default.

mod actions;
mod document;
mod hover;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use lowering::lint::LintOptions;
use tower_lsp_server::jsonrpc::Result as RpcResult;
use tower_lsp_server::ls_types::{
    CodeActionKind, CodeActionOptions, CodeActionParams, CodeActionProviderCapability,
    CodeActionResponse, DidChangeTextDocumentParams, DidChangeWatchedFilesParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, DidSaveTextDocumentParams, Hover,
    HoverParams, HoverProviderCapability, InitializeParams, InitializeResult, MessageType,
    SaveOptions, ServerCapabilities, ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind,
    TextDocumentSyncOptions, TextDocumentSyncSaveOptions, Uri,
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
            }),
        });
        Server::new(tokio::io::stdin(), tokio::io::stdout(), socket)
            .serve(service)
            .await;
    });
    Ok(Status::Success)
}

struct Backend {
    client: Client,
    state: Mutex<State>,
}

struct State {
    documents: HashMap<Uri, Open>,
    resolver: Resolver,
}

struct Open {
    document: Document,
    settings: Arc<Settings>,
}

impl Backend {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a document half-edited in a way that
        // matters more than stopping the server; keep serving with what is there.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn publish(&self, uri: Uri) {
        let published = {
            let state = self.state();
            state
                .documents
                .get(&uri)
                .map(|open| (open.document.lsp_diagnostics(&uri), open.document.version))
        };
        if let Some((diagnostics, version)) = published {
            self.client
                .publish_diagnostics(uri, diagnostics, Some(version))
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

    /// Reads the config files again and re-lints every open document.
    async fn reload(&self) {
        let (uris, messages) = {
            let mut state = self.state();
            state.resolver = Resolver::new(Overrides::default());
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
        for message in messages {
            self.client
                .show_message(MessageType::WARNING, message)
                .await;
        }
        for uri in uris {
            self.publish(uri).await;
        }
    }
}

fn is_config(uri: &Uri) -> bool {
    uri.path().as_str().ends_with(config::FILE_NAME)
}

impl LanguageServer for Backend {
    async fn initialize(&self, _: InitializeParams) -> RpcResult<InitializeResult> {
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

    async fn shutdown(&self) -> RpcResult<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let item = params.text_document;
        let (message, config) = {
            let mut state = self.state();
            let (settings, message) = Self::settings_for(&mut state, &item.uri);
            let config = settings.source.clone();
            let document = Document::new(item.text, item.version, &settings.options);
            state
                .documents
                .insert(item.uri.clone(), Open { document, settings });
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
        self.publish(item.uri).await;
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        {
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
        }
        self.publish(uri).await;
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        if is_config(&params.text_document.uri) {
            self.reload().await;
        }
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        if params.changes.iter().any(|change| is_config(&change.uri)) {
            self.reload().await;
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        self.state().documents.remove(&uri);
        // Clear what the editor shows for a closed file.
        self.client.publish_diagnostics(uri, Vec::new(), None).await;
    }

    async fn hover(&self, params: HoverParams) -> RpcResult<Option<Hover>> {
        let at = params.text_document_position_params;
        let state = self.state();
        Ok(state.documents.get(&at.text_document.uri).and_then(|open| {
            let offset = open.document.offset(at.position);
            hover::hover(&open.document, offset)
        }))
    }

    async fn code_action(&self, params: CodeActionParams) -> RpcResult<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let state = self.state();
        Ok(state
            .documents
            .get(&uri)
            .map(|open| actions::actions(&open.document, &uri, params.range)))
    }
}
