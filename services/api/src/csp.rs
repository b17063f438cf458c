//! The Content-Security-Policy of the pages: scripts and styles only from the API itself (hls.js
//! included), media and images from the media bucket or CDN, uploads to the raw bucket's S3
//! endpoint, no framing (but for the embed player, which the sites `EMBED_FRAME_ANCESTORS`
//! names may frame). Inline style attributes stay allowed (progress bars are drawn with them).
//! `media-src` allows `data:`: hls.js gives each subtitle track it makes an empty `data:,WEBVTT`
//! source (a Chromium captions-menu workaround), which the watch page otherwise refuses.

use axum::http::HeaderValue;

/// `scheme://host[:port]` of a URL, or `None` when it has no host.
pub fn origin(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty() || rest.is_empty() {
        return None;
    }
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    (host_end > 0).then(|| &url[..scheme.len() + 3 + host_end])
}

/// Who may frame a page: nobody (every page but the embed player), or the embed player's
/// `EMBED_FRAME_ANCESTORS`.
pub const NO_FRAMING: &str = "'none'";

/// `EMBED_FRAME_ANCESTORS`: CSP sources separated by spaces. Nothing that could end the
/// directive or the header (`;`, `,`, control characters) is accepted.
pub fn parse_frame_ancestors(value: &str) -> Result<String, String> {
    let sources: Vec<&str> = value.split_ascii_whitespace().collect();
    let bad = |s: &&str| {
        s.bytes()
            .any(|b| !b.is_ascii_graphic() || b == b';' || b == b',')
    };
    if sources.is_empty() || sources.iter().any(bad) {
        return Err(format!(
            "EMBED_FRAME_ANCESTORS must be CSP sources separated by spaces, such as * or \
             'self' https://blog.example.com, not {value:?}"
        ));
    }
    Ok(sources.join(" "))
}

/// The policy for media served from `media_base_url` and uploads sent to `s3_endpoint` (the
/// `AWS_ENDPOINT_URL` when one is set; AWS's own S3 hosts otherwise), framable by
/// `frame_ancestors`.
pub fn policy(media_base_url: &str, s3_endpoint: Option<&str>, frame_ancestors: &str) -> String {
    let media = origin(media_base_url).unwrap_or("'none'");
    let uploads = s3_endpoint
        .and_then(origin)
        .unwrap_or("https://*.amazonaws.com");
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: {media}; media-src 'self' blob: data: {media}; \
         connect-src 'self' {media} {uploads}; worker-src 'self' blob:; object-src 'none'; \
         base-uri 'none'; frame-ancestors {frame_ancestors}; form-action 'self'"
    )
}

/// The header value, or `None` (and a warning) if a configured URL cannot go in a header.
pub fn header(
    media_base_url: &str,
    s3_endpoint: Option<&str>,
    frame_ancestors: &str,
) -> Option<HeaderValue> {
    match HeaderValue::from_str(&policy(media_base_url, s3_endpoint, frame_ancestors)) {
        Ok(value) => Some(value),
        Err(err) => {
            tracing::warn!(error = %err, "no Content-Security-Policy: a configured URL is not header-safe");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin("http://127.0.0.1:4566/vodnest-media"),
            Some("http://127.0.0.1:4566")
        );
        assert_eq!(
            origin("https://d111.cloudfront.net"),
            Some("https://d111.cloudfront.net")
        );
        assert_eq!(
            origin("https://cdn.example.com?x=1"),
            Some("https://cdn.example.com")
        );
        assert_eq!(origin("not a url"), None);
        assert_eq!(origin("https:///path"), None);
    }

    #[test]
    fn the_policy_names_media_and_upload_hosts() {
        let local = policy(
            "http://127.0.0.1:4566/media",
            Some("http://127.0.0.1:4566"),
            NO_FRAMING,
        );
        assert!(local.contains("media-src 'self' blob: data: http://127.0.0.1:4566;"));
        assert!(local.contains("connect-src 'self' http://127.0.0.1:4566 http://127.0.0.1:4566;"));
        let aws = policy("https://d111.cloudfront.net", None, NO_FRAMING);
        assert!(
            aws.contains("connect-src 'self' https://d111.cloudfront.net https://*.amazonaws.com;")
        );
        assert!(aws.contains("frame-ancestors 'none'"));
        let embed = policy(
            "https://d111.cloudfront.net",
            None,
            "https://blog.example.com",
        );
        assert!(embed.contains("frame-ancestors https://blog.example.com;"));
    }

    #[test]
    fn frame_ancestors_cannot_add_directives() {
        assert_eq!(parse_frame_ancestors("*").as_deref(), Ok("*"));
        assert_eq!(
            parse_frame_ancestors(" 'self'   https://a.example ").as_deref(),
            Ok("'self' https://a.example")
        );
        for bad in [
            "",
            "  ",
            "* ; script-src *",
            "https://a.example,https://b",
            "*\u{7f}",
        ] {
            assert!(parse_frame_ancestors(bad).is_err(), "{bad:?}");
        }
    }
}
