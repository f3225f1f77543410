//! Image sync: for every image of a [`Manifest`], inspect it locally and pull it when it is
//! missing or its id differs from the expected one — the very ensure step a launch runs
//! ([`crate::image`]'s `ensure_image`), so sync and launch cannot disagree — then record
//! the resulting image id and a result line, as tarsregistry keeps per base image
//! (`t_base_image.sha` and `result`: `"YYYY-mm-dd HH:MM:SS - succ"` or the error).
//!
//! Images are ensured concurrently, at most `jobs` at a time; one failing image does not
//! stop the others. A registry whose password cannot be read fails only its own images.

use std::time::SystemTime;

use futures_util::StreamExt as _;
use serde::Serialize;

use crate::error::ErrorKind;
use crate::image::{self, PullPolicy};
use crate::manifest::{ImageSpec, Manifest};
use crate::runtime::Runtime;

/// What happened to one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncAction {
    /// Present with the expected id (or any id when none is expected): nothing pulled.
    Present,
    /// Pulled (missing, or another id than expected).
    Pulled,
    /// Could not be ensured.
    Failed,
}

/// The outcome for one image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageSync {
    pub image: String,
    /// The manifest's registry id, when the image names one.
    pub registry: Option<String>,
    /// The expected id from the manifest.
    pub expected_id: Option<String>,
    pub action: SyncAction,
    /// The local image id afterwards (what tarsregistry stores as `sha`), when known.
    pub id: Option<String>,
    /// Why a pull happened.
    pub pulled_because: Option<String>,
    /// `"YYYY-mm-dd HH:MM:SS - succ"` (UTC) or the error message, like upstream's `result`.
    pub result: String,
    /// The error class, when the image failed.
    pub error_kind: Option<ErrorKind>,
}

/// The outcome of a sync, images in manifest order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub images: Vec<ImageSync>,
    pub present: usize,
    pub pulled: usize,
    pub failed: usize,
}

impl SyncReport {
    /// Whether every image is there as expected.
    #[must_use]
    pub fn all_succeeded(&self) -> bool {
        self.failed == 0
    }

    /// The class of the first failed image, in manifest order.
    #[must_use]
    pub fn first_failure(&self) -> Option<ErrorKind> {
        self.images.iter().find_map(|i| i.error_kind)
    }
}

/// A sync step, for progress output.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncEvent {
    /// Ensuring this image begins.
    Checking { image: String },
    /// This image is done.
    Done(ImageSync),
}

/// Ensures every image of the manifest, at most `jobs` at once (0 counts as 1).
pub async fn sync(
    runtime: &Runtime,
    manifest: &Manifest,
    jobs: usize,
    events: &(dyn Fn(SyncEvent) + Sync),
) -> SyncReport {
    let images: Vec<ImageSync> = futures_util::stream::iter(&manifest.images)
        .map(|spec| sync_one(runtime, manifest, spec, events))
        .buffered(jobs.max(1))
        .collect()
        .await;
    let count = |a: SyncAction| images.iter().filter(|i| i.action == a).count();
    SyncReport {
        present: count(SyncAction::Present),
        pulled: count(SyncAction::Pulled),
        failed: count(SyncAction::Failed),
        images,
    }
}

async fn sync_one(
    runtime: &Runtime,
    manifest: &Manifest,
    spec: &ImageSpec,
    events: &(dyn Fn(SyncEvent) + Sync),
) -> ImageSync {
    events(SyncEvent::Checking {
        image: spec.image.clone(),
    });
    let mut outcome = ImageSync {
        image: spec.image.clone(),
        registry: spec.registry.clone(),
        expected_id: spec.id.clone(),
        action: SyncAction::Failed,
        id: None,
        pulled_because: None,
        result: String::new(),
        error_kind: None,
    };
    let auth = match spec.registry.as_deref().and_then(|r| manifest.registry(r)) {
        Some(registry) => match registry.credentials() {
            Ok(auth) => auth,
            Err(error) => {
                outcome.result = error.to_string();
                outcome.error_kind = Some(ErrorKind::Usage);
                events(SyncEvent::Done(outcome.clone()));
                return outcome;
            }
        },
        None => None,
    };
    let ensured = image::ensure_image(
        runtime.engine(),
        &spec.image,
        spec.id.as_deref(),
        PullPolicy::IfNeeded,
        auth.as_ref(),
        &mut |_| {},
    )
    .await;
    match ensured {
        Ok(ensured) => {
            outcome.action = if ensured.pulled.is_some() {
                SyncAction::Pulled
            } else {
                SyncAction::Present
            };
            outcome.id = Some(ensured.id);
            outcome.pulled_because = ensured.pulled;
            outcome.result = format!("{} - succ", timestamp(SystemTime::now()));
        }
        Err(error) => {
            outcome.result = error.to_string();
            outcome.error_kind = Some(error.kind());
            // What is there now, if anything (a failed pull may leave an older image).
            if let Ok(Some(local)) = image::inspect_image(runtime.engine(), &spec.image).await {
                outcome.id = Some(local.id);
            }
        }
    }
    events(SyncEvent::Done(outcome.clone()));
    outcome
}

/// `YYYY-mm-dd HH:MM:SS` in UTC.
#[must_use]
pub fn timestamp(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_times() {
        let at = |s: u64| timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01 00:00:00");
        assert_eq!(at(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(at(1_709_251_199), "2024-02-29 23:59:59");
        assert_eq!(at(1_735_689_600), "2025-01-01 00:00:00");
    }
}
