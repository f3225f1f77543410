//! One request: routed (see [`crate::route`]), answered by its handler or passed through, and
//! logged in a span that carries the request's number, method, path and route.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use http::{Request, Response};
use hyper::body::Incoming;
use tracing::{Instrument as _, debug, info, info_span};

use crate::reply::{self, Body};
use crate::route::{Route, route};
use crate::state::State;
use crate::{containers, create, images};

static REQUESTS: AtomicU64 = AtomicU64::new(1);

/// Answers one request; never fails (failures are Engine-API error documents).
pub(crate) async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let number = REQUESTS.fetch_add(1, Ordering::Relaxed);
    let route = route(request.method(), request.uri().path());
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    let span = info_span!(
        "request",
        n = number,
        method = %request.method(),
        path = %parser::terminal::escape_controls(target),
        route = route.name(),
    );
    async move {
        let started = Instant::now();
        // The node inspects every few seconds: those stay at debug level, as pass-through.
        let loud = !matches!(
            route,
            Route::PassThrough | Route::InspectContainer(_) | Route::InspectImage(_)
        );
        let request = request.map(reply::boxed);
        let response = match route {
            Route::CreateContainer => create::create(&state, request).await,
            Route::StartContainer(id) => containers::start(&state, &id, request).await,
            Route::StopContainer(id) => containers::stop(&state, &id, request).await,
            Route::RemoveContainer(id) => containers::remove(&state, &id, request).await,
            Route::InspectContainer(id) => containers::inspect(&state, &id, request).await,
            Route::CreateExec(id) => containers::exec(&state, &id, request).await,
            Route::PullImage => images::pull(&state, request).await,
            Route::InspectImage(name) => images::inspect(&state, &name, request).await,
            Route::Auth => images::auth(&state, request).await,
            Route::PassThrough => state.engine.forward(request).await,
        };
        let elapsed_ms = started.elapsed().as_millis();
        let status = response.status().as_u16();
        if loud {
            info!(status, elapsed_ms, "answered");
        } else {
            debug!(status, elapsed_ms, "answered");
        }
        Ok(response)
    }
    .instrument(span)
    .await
}
