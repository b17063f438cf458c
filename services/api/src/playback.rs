//! Playback URLs. A public video's are plain, cacheable CDN (or bucket) URLs under its
//! version, `videos/{id}/public/{n}/`. An unlisted or private video's version lives under
//! `videos/{id}/signed/{n}/`, which no bucket policy or CDN behavior serves without a
//! signature, and its URLs expire:
//!
//! - the API serves its playlists, poster and storyboard under one path per version and expiry,
//!   `/api/v1/playback/{id}/{n}/{expiry}-{signature}/…`, signed once (HMAC) for the whole
//!   version. A master playlist's relative URIs therefore stay signed as players resolve them;
//! - in the media playlists and the storyboard it serves, every segment, init segment and
//!   sheet URI is rewritten to a signed storage URL (presigned S3 GETs; in AWS CloudFront signed
//!   URLs carrying one custom policy over the version, `{cdn}/videos/{id}/signed/{n}/*`) that
//!   expires with the path's signature.
//!
//! Expiries are rounded up to a window, so everyone asking within one window gets the same URLs
//! and the rewritten playlists are made once per window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use uuid::Uuid;
use vodnest_core::cloudfront::CloudFrontSigner;
use vodnest_core::domain::{Playback, VideoRow};
use vodnest_core::signing;
use vodnest_core::storage::MediaClass;

/// Signed URLs of one window share their expiry.
const WINDOW_SECS: i64 = 15 * 60;
/// Bytes of HMAC kept in a URL: 128 bits.
const TAG_BYTES: usize = 16;
/// A signed URL outlives the video's duration by this much at least (a viewer who pauses).
const DURATION_SLACK_SECS: f64 = 30.0 * 60.0;
/// Rewritten playlists kept; past this the cache starts again empty (a window's worth of the
/// videos being watched fits many times over).
const CACHED_FILES: usize = 2048;

/// Final playlists and storyboards as rewritten, by object key and expiry.
type Rendered = HashMap<(String, i64), Arc<[u8]>>;

/// Signs and checks the API's playback paths.
pub struct PlaybackSigner {
    key: Vec<u8>,
    /// `PLAYBACK_URL_TTL_SECS`.
    lifetime: Duration,
    /// Absolute URLs are built on this (`PUBLIC_URL`, or where the API listens).
    api_base: String,
    rendered: Mutex<Rendered>,
    /// Signs storage URLs for the CDN when the API runs behind CloudFront.
    cloudfront: Option<CloudFrontSigner>,
}

/// What a checked playback path grants: one version of one video, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub prefix: String,
    pub expires_at: OffsetDateTime,
    /// The rounded signing instant: storage URLs are presigned as of it (see `Storage`).
    pub signed_at: SystemTime,
}

impl PlaybackSigner {
    pub fn new(key: Vec<u8>, lifetime: Duration, api_base: &str) -> Self {
        Self {
            key,
            lifetime,
            api_base: api_base.trim_end_matches('/').to_owned(),
            rendered: Mutex::new(HashMap::new()),
            cloudfront: None,
        }
    }

    /// Storage URLs become CloudFront signed URLs (`MEDIA_BASE_URL` is the distribution).
    pub fn with_cloudfront(mut self, signer: Option<CloudFrontSigner>) -> Self {
        self.cloudfront = signer;
        self
    }

    pub fn cloudfront(&self) -> Option<&CloudFrontSigner> {
        self.cloudfront.as_ref()
    }

    /// A rewritten file made earlier for the same expiry.
    pub fn cached(&self, key: &str, expires_at: OffsetDateTime) -> Option<Arc<[u8]>> {
        let rendered = self.rendered.lock().unwrap_or_else(|e| e.into_inner());
        rendered
            .get(&(key.to_owned(), expires_at.unix_timestamp()))
            .cloned()
    }

    /// Keeps a rewritten file (final ones only: a growing playlist changes).
    pub fn cache(&self, key: &str, expires_at: OffsetDateTime, body: Arc<[u8]>) {
        let mut rendered = self.rendered.lock().unwrap_or_else(|e| e.into_inner());
        if rendered.len() >= CACHED_FILES {
            rendered.clear();
        }
        rendered.insert((key.to_owned(), expires_at.unix_timestamp()), body);
    }

    /// The current version of a video whose version is in the signed class; `None` for a
    /// public one (its plain URLs stand).
    fn signed_prefix(row: &VideoRow) -> Option<&str> {
        let prefix = row.media_prefix.as_deref().filter(|_| row.playable)?;
        (MediaClass::of_prefix(prefix) == Some(MediaClass::Signed)).then_some(prefix)
    }

    /// What the signed URLs made for the video now grant (the objects of its current version,
    /// until the expiry its playback URLs get), for files the API hands out itself (an MP4
    /// download); `None` for a public video.
    pub fn grant(&self, row: &VideoRow, now: OffsetDateTime) -> Option<Grant> {
        let prefix = Self::signed_prefix(row)?;
        let expires_at = self.expiry(row.duration_s, now);
        Some(Grant {
            prefix: prefix.to_owned(),
            expires_at,
            signed_at: self.signed_at(expires_at.unix_timestamp()),
        })
    }

    /// The signed playback URLs of a video whose current version is in the signed class;
    /// `None` for a public one (its plain URLs stand).
    pub fn urls(&self, row: &VideoRow, now: OffsetDateTime) -> Option<Playback> {
        let prefix = Self::signed_prefix(row)?;
        let version = version_of(prefix)?;
        let expires_at = self.expiry(row.duration_s, now);
        let base = format!(
            "{}/api/v1/playback/{}/{version}/{}",
            self.api_base,
            row.id,
            self.token(row.id, version, expires_at)
        );
        let master = vodnest_core::edits::master_name(row)?;
        Some(Playback {
            hls_url: Some(format!("{base}/{master}")),
            poster_url: row.poster().map(|name| format!("{base}/{name}")),
            storyboard_url: row.has_storyboard.then(|| format!("{base}/storyboard.vtt")),
            expires_at: Some(expires_at),
        })
    }

    /// At least the configured lifetime and the video's duration (plus some), rounded up to
    /// the window.
    fn expiry(&self, duration_s: Option<f64>, now: OffsetDateTime) -> OffsetDateTime {
        let duration = duration_s.unwrap_or(0.0).max(0.0) + DURATION_SLACK_SECS;
        let lifetime = self
            .lifetime
            .as_secs_f64()
            .max(duration.min(6.0 * 24.0 * 3600.0));
        let at = now.unix_timestamp() + lifetime.ceil() as i64;
        let rounded = at.div_euclid(WINDOW_SECS) * WINDOW_SECS + WINDOW_SECS;
        OffsetDateTime::from_unix_timestamp(rounded).unwrap_or(now)
    }

    /// `{expiry}-{signature}`.
    fn token(&self, id: Uuid, version: i32, expires_at: OffsetDateTime) -> String {
        let expiry = expires_at.unix_timestamp();
        let tag = signing::sign(&self.key, message(id, version, expiry).as_bytes());
        format!("{expiry}-{}", vodnest_core::signing::hex(&tag[..TAG_BYTES]))
    }

    /// Checks a path's token for `id`'s version `version`.
    pub fn check(
        &self,
        id: Uuid,
        version: i32,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Grant, Refusal> {
        let (expiry, tag) = token.split_once('-').ok_or(Refusal::Malformed)?;
        let expiry: i64 = expiry.parse().map_err(|_| Refusal::Malformed)?;
        let tag = unhex(tag).ok_or(Refusal::Malformed)?;
        if !signing::verify(&self.key, message(id, version, expiry).as_bytes(), &tag) {
            return Err(Refusal::BadSignature);
        }
        let expires_at =
            OffsetDateTime::from_unix_timestamp(expiry).map_err(|_| Refusal::Malformed)?;
        if expires_at <= now {
            return Err(Refusal::Expired);
        }
        Ok(Grant {
            prefix: vodnest_core::storage::version_prefix(id, MediaClass::Signed, version),
            expires_at,
            signed_at: self.signed_at(expiry),
        })
    }

    /// The window an expiry was made in: presigning as of then keeps URLs identical.
    fn signed_at(&self, expiry: i64) -> SystemTime {
        let window_start = (expiry - WINDOW_SECS - self.lifetime.as_secs() as i64).max(0);
        let signed_at = SystemTime::UNIX_EPOCH + Duration::from_secs(window_start as u64);
        signed_at.min(SystemTime::now())
    }
}

/// Why a playback path is refused (all `403`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    BadSignature,
    Expired,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Self::Malformed => "the playback URL is malformed",
            Self::BadSignature => "the playback URL's signature is not valid",
            Self::Expired => "the playback URL has expired; get a fresh one from the video",
        }
    }
}

fn message(id: Uuid, version: i32, expiry: i64) -> String {
    format!("playback/{id}/{version}/{expiry}")
}

/// `n` of `videos/{id}/signed/{n}/`.
fn version_of(prefix: &str) -> Option<i32> {
    prefix
        .trim_end_matches('/')
        .rsplit('/')
        .next()?
        .parse()
        .ok()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> PlaybackSigner {
        PlaybackSigner::new(vec![7; 32], Duration::from_secs(4 * 3600), "http://x/")
    }

    fn token_parts(url: &str) -> (i32, String) {
        let mut parts = url.split('/').skip(7);
        let version = parts.next().and_then(|v| v.parse().ok()).unwrap_or(-1);
        (version, parts.next().unwrap_or_default().to_owned())
    }

    fn row(prefix: &str, duration_s: f64) -> (Uuid, VideoRow) {
        let id = Uuid::now_v7();
        (
            id,
            test_row(id, prefix.replace("{id}", &id.to_string()), duration_s),
        )
    }

    #[test]
    fn signed_versions_get_expiring_urls_that_check_and_public_ones_do_not() {
        let now = OffsetDateTime::now_utc();
        let (id, video) = row("videos/{id}/signed/3/", 60.0);
        let playback = signer().urls(&video, now).expect("signed");
        let hls = playback.hls_url.expect("hls");
        assert!(
            hls.starts_with(&format!("http://x/api/v1/playback/{id}/3/")),
            "{hls}"
        );
        assert!(hls.ends_with("/master.m3u8"));
        let expires_at = playback.expires_at.expect("expiry");
        assert!(expires_at >= now + time::Duration::hours(4));
        assert!(expires_at <= now + time::Duration::hours(4) + time::Duration::minutes(16));
        let (version, token) = token_parts(&hls);
        let grant = signer().check(id, version, &token, now).expect("valid");
        assert_eq!(grant.prefix, format!("videos/{id}/signed/3/"));
        // Another version, another video, a changed expiry or an expired one: refused.
        assert_eq!(
            signer().check(id, 2, &token, now),
            Err(Refusal::BadSignature)
        );
        let other = Uuid::now_v7();
        assert_eq!(
            signer().check(other, 3, &token, now),
            Err(Refusal::BadSignature)
        );
        let (expiry, tag) = token.split_once('-').expect("token");
        let later = format!("{}-{tag}", expiry.parse::<i64>().expect("expiry") + 900);
        assert_eq!(
            signer().check(id, 3, &later, now),
            Err(Refusal::BadSignature)
        );
        let after = expires_at + time::Duration::seconds(1);
        assert_eq!(signer().check(id, 3, &token, after), Err(Refusal::Expired));
        assert_eq!(
            signer().check(id, 3, "nonsense", now),
            Err(Refusal::Malformed)
        );

        let (_, public) = row("videos/{id}/public/1/", 60.0);
        assert!(signer().urls(&public, now).is_none());
    }

    #[test]
    fn an_edited_video_s_url_names_its_revision_in_its_version_only() {
        let now = OffsetDateTime::now_utc();
        let (id, mut video) = row("videos/{id}/signed/3/", 60.0);
        video.edited_master = Some(format!("videos/{id}/signed/3/master-7.m3u8"));
        let hls = signer().urls(&video, now).and_then(|p| p.hls_url);
        assert!(
            hls.as_deref()
                .is_some_and(|u| u.contains(&format!("/{id}/3/")) && u.ends_with("/master-7.m3u8")),
            "{hls:?}"
        );
        // Another version became current: its own master until the edits are written there.
        video.media_prefix = Some(format!("videos/{id}/signed/4/"));
        let hls = signer().urls(&video, now).and_then(|p| p.hls_url);
        assert!(
            hls.as_deref()
                .is_some_and(|u| u.contains(&format!("/{id}/4/")) && u.ends_with("/master.m3u8")),
            "{hls:?}"
        );
    }

    #[test]
    fn a_long_video_s_urls_outlive_its_duration() {
        let now = OffsetDateTime::now_utc();
        let (_, video) = row("videos/{id}/signed/1/", 10.0 * 3600.0);
        let expires_at = signer().urls(&video, now).and_then(|p| p.expires_at);
        assert!(expires_at.expect("expiry") >= now + time::Duration::hours(10));
    }

    #[test]
    fn urls_are_the_same_within_a_window() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
        let (_, video) = row("videos/{id}/signed/1/", 60.0);
        let first = signer().urls(&video, now).and_then(|p| p.hls_url);
        let soon = signer().urls(&video, now + time::Duration::seconds(60));
        assert_eq!(first, soon.and_then(|p| p.hls_url));
    }

    fn test_row(id: Uuid, prefix: String, duration_s: f64) -> VideoRow {
        VideoRow {
            id,
            title: "t".into(),
            filename: "f".into(),
            content_type: "video/mp4".into(),
            status: vodnest_core::domain::VideoStatus::Ready,
            stage: None,
            progress: 1.0,
            playable: true,
            error: None,
            size_bytes: 1,
            duration_s: Some(duration_s),
            width: None,
            height: None,
            renditions: sqlx::types::Json(Vec::new()),
            encoding: None,
            upload_id: None,
            part_size: 1,
            part_count: 1,
            upload_expires_at: OffsetDateTime::now_utc(),
            growing: false,
            has_poster: true,
            has_storyboard: false,
            media_prefix: Some(prefix),
            created_at: OffsetDateTime::now_utc(),
            updated_at: OffsetDateTime::now_utc(),
            owner_id: Uuid::now_v7(),
            owner_username: "u".into(),
            visibility: vodnest_core::domain::Visibility::Private,
            description: String::new(),
            view_count: 0,
            chapters: sqlx::types::Json(Vec::new()),
            chapters_set: false,
            trim_start_s: None,
            trim_end_s: None,
            captions: sqlx::types::Json(Vec::new()),
            edit_revision: 0,
            edited_master: None,
            window_start_s: None,
            window_end_s: None,
            source_video_id: None,
            source_start_s: None,
            source_end_s: None,
            poster_name: None,
        }
    }
}
