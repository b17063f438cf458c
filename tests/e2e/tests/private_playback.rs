//! Private playback: an unlisted or private video plays only through URLs that expire. The
//! video object's `playback` URLs are signed API paths; every URI the playlists list is a
//! presigned storage URL; a tampered or expired signature is refused; a visibility change moves
//! the output between the public and the signed class, and a video that stops being public
//! loses its plain URLs at the sweeper's next pass.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use vodnest_core::cloudfront::from_cloudfront_base64;
use vodnest_e2e::{TestApp, TestSettings, clip};
use vodnest_testkit::{Look, TestDatabase, eventually};

const PATIENCE: Duration = Duration::from_secs(180);

async fn status(app: &TestApp, url: &str) -> Result<u16> {
    Ok(app.http.get(url).send().await?.status().as_u16())
}

async fn patch(app: &TestApp, id: &str, body: Value) -> Result<()> {
    let response = app
        .http
        .patch(app.url(&format!("/api/v1/videos/{id}")))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await?;
    ensure!(response.status() == 200, "PATCH: {}", response.status());
    Ok(())
}

/// The video once its `hls_url` satisfies `wanted`.
async fn video_when(app: &TestApp, id: &str, wanted: impl Fn(&str) -> bool) -> Result<Value> {
    eventually("the playback URL", PATIENCE, async || {
        let video = app.video(id).await?;
        let url = video["playback"]["hls_url"].as_str().unwrap_or_default();
        Ok(if video["status"] == "ready" && wanted(url) {
            Look::Done(video)
        } else {
            Look::NotYet(format!("{} {url}", video["status"]))
        })
    })
    .await
}

/// The first segment URI of the first rendition playlist the master lists.
async fn first_segment(app: &TestApp, master_url: &str) -> Result<String> {
    let master_url = reqwest::Url::parse(master_url)?;
    let master = app
        .http
        .get(master_url.clone())
        .send()
        .await?
        .text()
        .await?;
    let rendition = master
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .context("no rendition")?;
    let playlist_url = master_url.join(rendition)?;
    let playlist = app
        .http
        .get(playlist_url.clone())
        .send()
        .await?
        .text()
        .await?;
    let segment = playlist
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .context("no segment")?;
    Ok(playlist_url.join(segment)?.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_private_video_plays_only_through_urls_that_expire() -> Result<()> {
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    // The sweeper deletes due versions every second here.
    settings.api.upload_sweep_secs = 1;
    let app = TestApp::spawn_with(db, settings).await?;
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("clip.mp4");
    let encode = [&clip::X264[..], &["-r", "15"], &clip::AAC[..]].concat();
    clip::make(&source, 6, "320x180", true, &encode).await?;
    let id = app.upload_file(&source, "private").await?;

    let video = video_when(&app, &id, |url| !url.is_empty()).await?;
    ensure!(video["visibility"] == "private", "{video}");
    let hls = video["playback"]["hls_url"]
        .as_str()
        .context("hls")?
        .to_owned();
    ensure!(
        hls.starts_with(&app.url(&format!("/api/v1/playback/{id}/"))),
        "{hls}"
    );
    ensure!(video["playback"]["expires_at"].is_string(), "{video}");
    ensure!(status(&app, &hls).await? == 200);

    // The path's signature: tampered → 403; valid but expired → 403.
    let (base, token) = {
        let trimmed = hls.trim_end_matches("/master.m3u8");
        let (base, token) = trimmed.rsplit_once('/').context("token")?;
        (base.to_owned(), token.to_owned())
    };
    let (expiry, tag) = token.split_once('-').context("token parts")?;
    let flipped = if tag.starts_with('0') { "1" } else { "0" };
    let tampered = format!("{base}/{expiry}-{flipped}{}/master.m3u8", &tag[1..]);
    ensure!(status(&app, &tampered).await? == 403, "tampered path");
    let key: Vec<u8> = sqlx::query_scalar("select key from signing_keys where name = 'playback'")
        .fetch_one(&app.pool)
        .await?;
    let version = base.rsplit_once('/').context("version")?.1;
    let past = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        - 60;
    let tag =
        vodnest_core::signing::sign(&key, format!("playback/{id}/{version}/{past}").as_bytes());
    let hex: String = tag[..16].iter().map(|b| format!("{b:02x}")).collect();
    let expired = format!("{base}/{past}-{hex}/master.m3u8");
    let refused = app.http.get(&expired).send().await?;
    ensure!(
        refused.status() == 403,
        "expired path: {}",
        refused.status()
    );
    ensure!(refused.text().await?.contains("expired"));

    // Segments: presigned storage URLs; LocalStack checks their signatures.
    let segment = first_segment(&app, &hls).await?;
    ensure!(segment.contains("X-Amz-Signature="), "{segment}");
    ensure!(status(&app, &segment).await? == 200, "signed segment");
    let forged = {
        let (head, sig) = segment.split_once("X-Amz-Signature=").context("sig")?;
        let flipped = if sig.starts_with('0') { "1" } else { "0" };
        format!("{head}X-Amz-Signature={flipped}{}", &sig[1..])
    };
    ensure!(
        status(&app, &forged).await? == 403,
        "forged segment signature"
    );

    // Public: plain, unsigned URLs of a new version in the public class.
    patch(&app, &id, json!({"visibility": "public"})).await?;
    let public = video_when(&app, &id, |url| url.contains("/public/")).await?;
    ensure!(public["playback"]["expires_at"].is_null(), "{public}");
    let public_hls = public["playback"]["hls_url"]
        .as_str()
        .context("hls")?
        .to_owned();
    ensure!(status(&app, &public_hls).await? == 200);
    // Players that started on the signed version play on within its signature.
    ensure!(status(&app, &hls).await? == 200);

    // Private again: the public version is deleted at the sweeper's next pass.
    patch(&app, &id, json!({"visibility": "private"})).await?;
    let private = video_when(&app, &id, |url| url.contains("/api/v1/playback/")).await?;
    ensure!(
        private["playback"]["hls_url"] != hls,
        "a new signed version"
    );
    eventually("the public version deleted", PATIENCE, async || {
        Ok(match status(&app, &public_hls).await? {
            200 => Look::NotYet("the public master still answers".into()),
            _ => Look::Done(()),
        })
    })
    .await?;
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn behind_cloudfront_segments_carry_one_policy_over_the_version() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let key = dir.path().join("key.pem");
    let made = tokio::process::Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key)
        .arg("2048")
        .output()
        .await?;
    ensure!(made.status.success(), "openssl genrsa: {made:?}");
    let pem = tokio::fs::read_to_string(&key).await?;
    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.api.cloudfront.key_pair_id = Some("K2JCJMDEHXQW5F".parse()?);
    settings.api.cloudfront.private_key =
        Some(vodnest_core::cloudfront::PrivateKey::from_pem(&pem)?);
    let media_base = settings.api.storage.media_base_url.clone();
    let app = TestApp::spawn_with(db, settings).await?;
    let source = dir.path().join("clip.mp4");
    let encode = [&clip::X264[..], &["-r", "15"], &clip::AAC[..]].concat();
    clip::make(&source, 6, "320x180", true, &encode).await?;
    let id = app.upload_file(&source, "behind a CDN").await?;
    let video = video_when(&app, &id, |url| !url.is_empty()).await?;
    let hls = video["playback"]["hls_url"].as_str().context("hls")?;
    let segment = first_segment(&app, hls).await?;
    let version = format!("{}/videos/{id}/signed/", media_base.trim_end_matches('/'));
    ensure!(segment.starts_with(&version), "{segment}");
    let url = reqwest::Url::parse(&segment)?;
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    ensure!(
        query.get("Key-Pair-Id").map(String::as_str) == Some("K2JCJMDEHXQW5F"),
        "{segment}"
    );
    ensure!(query.contains_key("Signature"), "{segment}");
    let policy = from_cloudfront_base64(query.get("Policy").context("Policy")?)?;
    let policy: Value = serde_json::from_slice(&policy)?;
    let statement = &policy["Statement"][0];
    let resource = statement["Resource"].as_str().context("Resource")?;
    ensure!(
        resource.starts_with(&version) && resource.ends_with("/*"),
        "one wildcard over the version: {resource}"
    );
    let expires_at = time::OffsetDateTime::parse(
        video["playback"]["expires_at"]
            .as_str()
            .context("expires_at")?,
        &time::format_description::well_known::Rfc3339,
    )?;
    ensure!(
        statement["Condition"]["DateLessThan"]["AWS:EpochTime"] == expires_at.unix_timestamp(),
        "{policy}"
    );
    app.stop().await
}
