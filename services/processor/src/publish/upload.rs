//! One output file to storage, with the HTTP headers (Content-Type, Cache-Control) its name
//! calls for.

use std::path::Path;

use vodnest_core::storage::Storage;

use super::PublishError;

pub use vodnest_core::storage::{PLAYLIST_TYPE, media_headers as headers};

/// Uploads a local output file to `{prefix}{key}` with the headers its name calls for, then
/// deletes it: the disk stays flat however long the video is.
pub async fn move_to_storage(
    storage: &Storage,
    prefix: &str,
    key: &str,
    path: &Path,
) -> Result<(), PublishError> {
    let (content_type, cache_control) = headers(key);
    storage
        .put_media_file(&format!("{prefix}{key}"), path, content_type, cache_control)
        .await?;
    tokio::fs::remove_file(path).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_by_extension() {
        assert_eq!(headers("master.m3u8").0, "application/vnd.apple.mpegurl");
        assert_eq!(headers("720p/seg_00001.m4s").0, "video/iso.segment");
        assert_eq!(headers("720p/init.mp4").0, "video/mp4");
        assert!(headers("720p/seg_00001.m4s").1.contains("immutable"));
    }
}
