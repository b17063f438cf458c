//! The download's multipart writer against LocalStack: parts of at least 5 MiB, the object
//! whole once finished, and nothing left in S3 (no object, no multipart upload holding parts)
//! when it is dropped before it finished, as a failed, canceled or lease-lost job drops it.

use anyhow::{Result, ensure};
use vodnest_core::storage::{ObjectHeaders, Storage};
use vodnest_processor::publish::multipart::MultipartWriter;
use vodnest_testkit::storage_config;

const HEADERS: ObjectHeaders<'static> = ObjectHeaders {
    content_type: "video/mp4",
    cache_control: "public, max-age=31536000, immutable",
    content_disposition: Some("attachment; filename=\"t.mp4\""),
};

/// The multipart uploads in progress for `key`.
async fn uploads_of(storage: &Storage, key: &str) -> Result<usize> {
    let listed = storage
        .client()
        .list_multipart_uploads()
        .bucket(storage.media_bucket())
        .prefix(key)
        .send()
        .await?;
    Ok(listed.uploads().len())
}

#[tokio::test]
async fn a_finished_object_is_whole_and_a_dropped_one_leaves_nothing() -> Result<()> {
    let storage = Storage::from_env(&storage_config()?).await;
    let key = format!(
        "videos/{}/signed/1/downloads/720p-0.mp4",
        uuid::Uuid::now_v7()
    );
    let bytes: Vec<u8> = (0..13 * 1024 * 1024).map(|i| (i % 251) as u8).collect();

    let mut writer = MultipartWriter::start(&storage, &key, &HEADERS, 5 * 1024 * 1024).await?;
    for chunk in bytes.chunks(700_000) {
        writer.write(chunk).await?;
    }
    ensure!(writer.written() == bytes.len() as u64);
    ensure!(writer.finish().await? == bytes.len() as u64);
    let stored = storage.get_media_bytes(&key).await?;
    ensure!(
        stored.as_deref() == Some(&bytes[..]),
        "the object is not what was written"
    );
    ensure!(uploads_of(&storage, &key).await? == 0);
    storage.delete_media_prefix(&key).await?;

    let dropped = format!("{key}.dropped");
    let mut writer = MultipartWriter::start(&storage, &dropped, &HEADERS, 5 * 1024 * 1024).await?;
    writer.write(&bytes).await?;
    ensure!(
        uploads_of(&storage, &dropped).await? == 1,
        "an upload in progress"
    );
    drop(writer);
    // The abort is sent from a task of its own.
    for _ in 0..100 {
        if uploads_of(&storage, &dropped).await? == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    ensure!(
        uploads_of(&storage, &dropped).await? == 0,
        "the upload was not aborted"
    );
    ensure!(storage.get_media_bytes(&dropped).await?.is_none());
    Ok(())
}
