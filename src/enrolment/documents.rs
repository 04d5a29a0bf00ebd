//! Identity documents of an application: kinds, and the image formats accepted, recognised
//! by their content (magic bytes), never by what the client declares, then decoded whole
//! (under limits against decompression bombs), checked for a minimum size and re-encoded:
//! what is sealed is pixels only, without EXIF or other metadata, and without trailing bytes
//! (a JPEG header followed by HTML is refused, a valid image with a payload appended loses it).

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentKind {
    IdFront,
    IdBack,
    Portrait,
    Liveness,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 4] = [
        DocumentKind::IdFront,
        DocumentKind::IdBack,
        DocumentKind::Portrait,
        DocumentKind::Liveness,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::IdFront => "id_front",
            DocumentKind::IdBack => "id_back",
            DocumentKind::Portrait => "portrait",
            DocumentKind::Liveness => "liveness",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        DocumentKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The smallest image accepted, (longer side, shorter side) in pixels, in either
    /// orientation. An ID card side must keep its printed text and number legible (600×400,
    /// about 150 dpi over an 86×54 mm card); a portrait or liveness frame must hold a face
    /// large enough to compare (480×360, a VGA camera frame with room to spare).
    pub fn min_dimensions(self) -> (u32, u32) {
        match self {
            DocumentKind::IdFront | DocumentKind::IdBack => (600, 400),
            DocumentKind::Portrait | DocumentKind::Liveness => (480, 360),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageType {
    Jpeg,
    Png,
}

impl ImageType {
    /// JPEG starts with SOI + a marker (`FF D8 FF`); PNG with its 8-byte signature.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        const PNG: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageType::Jpeg)
        } else if bytes.starts_with(&PNG) {
            Some(ImageType::Png)
        } else {
            None
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ImageType::Jpeg => "image/jpeg",
            ImageType::Png => "image/png",
        }
    }

    pub fn from_content_type(s: &str) -> Option<Self> {
        [ImageType::Jpeg, ImageType::Png]
            .into_iter()
            .find(|t| t.content_type() == s)
    }
}

/// Largest side accepted when decoding: above a 48-megapixel phone sensor (8000×6000).
const MAX_SIDE: u32 = 8192;
/// Memory the decoder may hold for one image: an 8000×6000 RGB photo (144 MB) fits, a
/// decompression bomb claiming more is refused before its pixels are allocated.
const MAX_DECODE_ALLOC: u64 = 192 * 1024 * 1024;
/// Quality of the re-encoded JPEG: visually lossless for a scan or a face.
const JPEG_QUALITY: u8 = 90;

/// Why an uploaded image is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ImageRefusal {
    /// Neither JPEG nor PNG by its first bytes.
    Unsupported,
    /// Claims to be JPEG or PNG but does not decode whole (or is beyond the decoding limits).
    Undecodable,
    TooSmall {
        min_width: u32,
        min_height: u32,
    },
}

/// An image as it is stored: decoded and re-encoded.
pub struct NormalisedImage {
    pub image_type: ImageType,
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Decodes `bytes` whole and re-encodes them. A JPEG stays JPEG (quality 90); a PNG stays
/// PNG, re-encoded losslessly (a screenshot or scan with sharp text loses nothing, and the
/// declared type the client sees does not change); only the pixels survive either way. The
/// EXIF orientation is applied to the pixels before the metadata goes, so a phone photo is
/// stored upright. CPU-bound: callers run it off the async runtime.
pub fn normalise_image(kind: DocumentKind, bytes: &[u8]) -> Result<NormalisedImage, ImageRefusal> {
    let image_type = ImageType::sniff(bytes).ok_or(ImageRefusal::Unsupported)?;
    let format = match image_type {
        ImageType::Jpeg => ImageFormat::Jpeg,
        ImageType::Png => ImageFormat::Png,
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let undecodable = |_| ImageRefusal::Undecodable;
    let mut decoder = reader.into_decoder().map_err(undecodable)?;
    // An unreadable orientation tag is no reason to refuse the pixels: keep them as they are.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut pixels = DynamicImage::from_decoder(decoder).map_err(undecodable)?;
    pixels.apply_orientation(orientation);
    let (width, height) = (pixels.width(), pixels.height());
    let (min_long, min_short) = kind.min_dimensions();
    if width.max(height) < min_long || width.min(height) < min_short {
        return Err(ImageRefusal::TooSmall {
            min_width: min_long,
            min_height: min_short,
        });
    }
    let mut out = Vec::new();
    let encoded = match image_type {
        ImageType::Jpeg => {
            // The JPEG encoder takes grey or RGB: colour images lose nothing by the conversion
            // (JPEG has no alpha).
            let pixels = match pixels {
                DynamicImage::ImageLuma8(_) => pixels,
                other => DynamicImage::ImageRgb8(other.to_rgb8()),
            };
            pixels.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
                &mut out,
                JPEG_QUALITY,
            ))
        }
        ImageType::Png => pixels.write_with_encoder(image::codecs::png::PngEncoder::new(&mut out)),
    };
    // Encoding decoded pixels fails only on a colour type the encoder lacks (16-bit PNG
    // channels as float, say): the image cannot be stored as it is, so it is refused.
    encoded.map_err(undecodable)?;
    Ok(NormalisedImage {
        image_type,
        bytes: out,
        width,
        height,
    })
}

/// A decrypted document on its way to an authorised reader. No `Debug`: it holds face data
/// that must never reach a log.
pub struct Document {
    pub image_type: ImageType,
    pub bytes: Vec<u8>,
}

/// What is known about a stored document without opening it.
#[derive(Clone, Debug)]
pub struct DocumentInfo {
    pub kind: DocumentKind,
    pub image_type: ImageType,
    pub size_bytes: i64,
    pub sha256: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_recognised_by_content_not_by_name() {
        assert_eq!(
            ImageType::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(ImageType::Jpeg)
        );
        assert_eq!(
            ImageType::sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some(ImageType::Png)
        );
        assert_eq!(ImageType::sniff(b"GIF89a"), None);
        assert_eq!(ImageType::sniff(b"%PDF-1.7"), None);
        assert_eq!(ImageType::sniff(&[0xFF, 0xD8]), None);
        assert_eq!(ImageType::sniff(b""), None);
    }

    fn encoded(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
        let pixels = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut out = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(pixels)
            .write_to(&mut out, format)
            .unwrap();
        out.into_inner()
    }

    #[test]
    fn a_jpeg_header_followed_by_html_is_undecodable() {
        let mut fake = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10];
        fake.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        fake.extend_from_slice(b"<html><script>alert(1)</script></html>");
        assert_eq!(
            normalise_image(DocumentKind::IdFront, &fake).err(),
            Some(ImageRefusal::Undecodable)
        );
        let mut truncated = encoded(600, 400, ImageFormat::Png);
        truncated.truncate(truncated.len() / 2);
        assert_eq!(
            normalise_image(DocumentKind::IdFront, &truncated).err(),
            Some(ImageRefusal::Undecodable)
        );
    }

    #[test]
    fn minimum_sizes_hold_in_either_orientation() {
        let too_small = |kind, w, h| {
            normalise_image(kind, &encoded(w, h, ImageFormat::Png))
                .err()
                .map(|e| matches!(e, ImageRefusal::TooSmall { .. }))
        };
        for kind in [DocumentKind::IdFront, DocumentKind::IdBack] {
            assert_eq!(too_small(kind, 600, 400), None);
            assert_eq!(too_small(kind, 400, 600), None);
            assert_eq!(too_small(kind, 599, 400), Some(true));
            assert_eq!(too_small(kind, 600, 399), Some(true));
        }
        for kind in [DocumentKind::Portrait, DocumentKind::Liveness] {
            assert_eq!(too_small(kind, 480, 360), None);
            assert_eq!(too_small(kind, 360, 480), None);
            assert_eq!(too_small(kind, 479, 360), Some(true));
        }
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_its_pixels_are_allocated() {
        // A PNG header claiming 60000×60000 (10.8 GB of RGB): refused by the limits.
        let mut bomb = encoded(600, 400, ImageFormat::Png);
        let ihdr = &mut bomb[16..24];
        ihdr.copy_from_slice(&[0, 0, 0xEA, 0x60, 0, 0, 0xEA, 0x60]);
        let crc = crate::drawn_signature::crc32(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            normalise_image(DocumentKind::IdFront, &bomb).err(),
            Some(ImageRefusal::Undecodable)
        );
    }

    #[test]
    fn what_is_stored_is_pixels_only_in_the_uploaded_format() {
        let jpeg = encoded(640, 480, ImageFormat::Jpeg);
        // An EXIF segment after SOI, and a payload after EOI.
        let mut tagged = vec![0xFF, 0xD8, 0xFF, 0xE1, 0, 16];
        tagged.extend_from_slice(b"Exif\0\0MM\0\x2a\0\0\0\x08");
        tagged.extend_from_slice(&jpeg[2..]);
        tagged.extend_from_slice(b"<html></html>");
        let image = normalise_image(DocumentKind::Portrait, &tagged).unwrap();
        assert_eq!(image.image_type, ImageType::Jpeg);
        assert_eq!((image.width, image.height), (640, 480));
        assert!(!image.bytes.windows(4).any(|w| w == b"Exif"));
        assert!(!image.bytes.windows(6).any(|w| w == b"<html>"));
        assert!(image.bytes.ends_with(&[0xFF, 0xD9]));

        let png = encoded(600, 400, ImageFormat::Png);
        let image = normalise_image(DocumentKind::IdBack, &png).unwrap();
        assert_eq!(image.image_type, ImageType::Png);
        let decoded = image::load_from_memory(&image.bytes).unwrap();
        assert_eq!(
            decoded.to_rgb8(),
            image::load_from_memory(&png).unwrap().to_rgb8()
        );
    }
}
