//! What an uploaded poster must be, checked from its header alone (no image decoder in the
//! API): a JPEG or a PNG whose declared `Content-Type` matches its magic bytes, with dimensions
//! (read from the PNG's `IHDR` or the JPEG's start-of-frame segment) between 1 and
//! [`MAX_SIDE`] pixels. Whether the rest of the file decodes is the browser's business: it is
//! served as an image, never interpreted by the service.

/// Longest side accepted, in pixels.
pub const MAX_SIDE: u32 = 4096;
/// Largest file accepted (the server's `MAX_BODY_BYTES` may be lower).
pub const MAX_BYTES: usize = 5 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
        }
    }

    fn from_content_type(value: &str) -> Option<Self> {
        let essence = value.split(';').next().unwrap_or("").trim();
        match essence.to_ascii_lowercase().as_str() {
            "image/jpeg" => Some(Self::Jpeg),
            "image/png" => Some(Self::Png),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Image {
    pub format: Format,
    pub width: u32,
    pub height: u32,
}

/// The image, or why it is refused (a sentence for a 422).
pub fn check(content_type: Option<&str>, bytes: &[u8]) -> Result<Image, String> {
    let declared = content_type
        .and_then(Format::from_content_type)
        .ok_or("send the poster as image/jpeg or image/png (Content-Type)")?;
    if bytes.len() > MAX_BYTES {
        return Err(format!("the poster is over {MAX_BYTES} bytes"));
    }
    let found = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        png_size(bytes).map(|(w, h)| (Format::Png, w, h))
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        jpeg_size(bytes).map(|(w, h)| (Format::Jpeg, w, h))
    } else {
        return Err("the body is neither a JPEG nor a PNG image".into());
    };
    let (format, width, height) =
        found.ok_or("the image's header is damaged: its dimensions cannot be read")?;
    if format != declared {
        return Err(format!(
            "the body is a {} image but Content-Type says otherwise",
            format.extension()
        ));
    }
    if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
        return Err(format!(
            "the image is {width}x{height}; at most {MAX_SIDE}x{MAX_SIDE} is accepted"
        ));
    }
    Ok(Image {
        format,
        width,
        height,
    })
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

/// The first chunk must be `IHDR`: width and height are its first two fields.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    (bytes.get(12..16)? == b"IHDR").then_some(())?;
    Some((be32(bytes, 16)?, be32(bytes, 20)?))
}

/// Walks the marker segments up to the first start-of-frame (`SOFn`).
fn jpeg_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    loop {
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        // Fill bytes before a marker.
        while *bytes.get(at + 1)? == 0xFF {
            at += 1;
        }
        let marker = *bytes.get(at + 1)?;
        at += 2;
        match marker {
            // Markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            // Start of scan before any frame header, or end of image: no dimensions.
            0xD9 | 0xDA => return None,
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let height = be16(bytes, at + 3)?;
                let width = be16(bytes, at + 5)?;
                return Some((u32::from(width), u32::from(height)));
            }
            _ => {
                let length = usize::from(be16(bytes, at)?);
                if length < 2 {
                    return None;
                }
                at += length;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        bytes.extend(width.to_be_bytes());
        bytes.extend(height.to_be_bytes());
        bytes.extend([8, 2, 0, 0, 0]);
        bytes
    }

    fn jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        bytes.extend(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        bytes.extend([0xFF, 0xC0, 0x00, 0x11, 0x08]);
        bytes.extend(height.to_be_bytes());
        bytes.extend(width.to_be_bytes());
        bytes.extend([0x03; 10]);
        bytes
    }

    #[test]
    fn reads_dimensions_from_headers() {
        let image = check(Some("image/png"), &png(640, 360)).expect("png");
        assert_eq!(
            (image.format, image.width, image.height),
            (Format::Png, 640, 360)
        );
        let image = check(Some("image/jpeg; charset=x"), &jpeg(320, 180)).expect("jpeg");
        assert_eq!(
            (image.format, image.width, image.height),
            (Format::Jpeg, 320, 180)
        );
    }

    #[test]
    fn refuses_what_is_not_a_small_enough_image_of_its_declared_type() {
        assert!(check(Some("image/png"), b"GIF89a....").is_err());
        assert!(check(Some("text/plain"), &png(10, 10)).is_err());
        assert!(check(None, &png(10, 10)).is_err());
        assert!(
            check(Some("image/jpeg"), &png(10, 10))
                .expect_err("refused")
                .contains("Content-Type")
        );
        assert!(
            check(Some("image/png"), &png(5000, 10))
                .expect_err("refused")
                .contains("4096")
        );
        assert!(check(Some("image/png"), &png(0, 10)).is_err());
        assert!(check(Some("image/jpeg"), &jpeg(10, 10)[..12]).is_err());
        assert!(check(Some("image/png"), &[0x89, b'P', b'N', b'G']).is_err());
    }
}
