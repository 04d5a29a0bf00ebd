//! The handwritten signature the citizen draws on a pad (under a contract, or under the
//! consent at the desk): a PNG, checked by its content (signature, a well-formed IHDR with a
//! valid CRC, an IEND trailer) and its size and dimensions, then decoded whole, row by row
//! (memory for one row, whatever the dimensions claim): an image that does not decode, or
//! with no visible ink (fully transparent, blank), signs nothing. A leaf module: `contract`
//! and `enrolment` both check drawings with it.

use serde::{Deserialize, Serialize};

const PNG_MAGIC: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
/// Length 0, type IEND, and its fixed CRC.
const IEND: [u8; 12] = [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82];

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureLimits {
    pub max_bytes: usize,
    pub min_width: u32,
    pub min_height: u32,
    pub max_width: u32,
    pub max_height: u32,
}

impl Default for SignatureLimits {
    fn default() -> Self {
        // A phone screen's drawing pad, up to a 4K tablet; a few hundred KiB at most.
        Self {
            max_bytes: 512 * 1024,
            min_width: 50,
            min_height: 20,
            max_width: 4096,
            max_height: 4096,
        }
    }
}

/// Why a drawing is refused; `contract::ContractError` has a variant for each.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("signature image larger than {max_bytes} bytes")]
    TooLarge { max_bytes: usize },
    #[error("signature image: {0}")]
    Invalid(&'static str),
    #[error(
        "signature image is {width}x{height}; allowed {min_width}x{min_height} to \
         {max_width}x{max_height}"
    )]
    Dimensions {
        width: u32,
        height: u32,
        min_width: u32,
        min_height: u32,
        max_width: u32,
        max_height: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureImage {
    pub width: u32,
    pub height: u32,
}

/// The PNG bytes of a signature sent as base64 text (a `data:image/png;base64,` prefix, as a
/// canvas gives it, is accepted); the text is bounded before it is decoded.
pub fn from_base64(text: &str, max_bytes: usize) -> Result<Vec<u8>, SignatureError> {
    use base64::Engine;
    let text = text.trim();
    let text = text.strip_prefix("data:image/png;base64,").unwrap_or(text);
    if text.len() / 4 * 3 > max_bytes + 3 {
        return Err(SignatureError::TooLarge { max_bytes });
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| SignatureError::Invalid("not valid base64"))
}

/// Checks `png` against `limits`.
pub fn check(png: &[u8], limits: &SignatureLimits) -> Result<SignatureImage, SignatureError> {
    if png.len() > limits.max_bytes {
        return Err(SignatureError::TooLarge {
            max_bytes: limits.max_bytes,
        });
    }
    let invalid = SignatureError::Invalid;
    // Signature, IHDR (4 length + 4 type + 13 data + 4 CRC), IEND.
    if png.len() < 8 + 25 + 12 || png[..8] != PNG_MAGIC {
        return Err(invalid("not a PNG image"));
    }
    let ihdr = &png[8..33];
    if ihdr[..8] != [0, 0, 0, 13, b'I', b'H', b'D', b'R'] {
        return Err(invalid("the PNG does not start with a valid IHDR chunk"));
    }
    if crc32(&ihdr[4..21]).to_be_bytes() != ihdr[21..25] {
        return Err(invalid("the PNG header is corrupt (IHDR CRC)"));
    }
    let width = u32::from_be_bytes([ihdr[8], ihdr[9], ihdr[10], ihdr[11]]);
    let height = u32::from_be_bytes([ihdr[12], ihdr[13], ihdr[14], ihdr[15]]);
    let (depth, colour) = (ihdr[16], ihdr[17]);
    let depth_ok = match colour {
        0 => [1, 2, 4, 8, 16].contains(&depth),
        3 => [1, 2, 4, 8].contains(&depth),
        2 | 4 | 6 => [8, 16].contains(&depth),
        _ => false,
    };
    if !depth_ok || ihdr[18] != 0 || ihdr[19] != 0 || ihdr[20] > 1 {
        return Err(invalid("the PNG header has invalid parameters"));
    }
    if png[png.len() - 12..] != IEND {
        return Err(invalid("the PNG is truncated (no IEND chunk)"));
    }
    if !(limits.min_width..=limits.max_width).contains(&width)
        || !(limits.min_height..=limits.max_height).contains(&height)
    {
        return Err(SignatureError::Dimensions {
            width,
            height,
            min_width: limits.min_width,
            min_height: limits.min_height,
            max_width: limits.max_width,
            max_height: limits.max_height,
        });
    }
    if ink_pixels(png)? < MIN_INK_PIXELS {
        return Err(invalid("the signature has no visible ink"));
    }
    Ok(SignatureImage { width, height })
}

/// Fewer marked pixels than this is no signature (a stray tap, a blank pad).
const MIN_INK_PIXELS: u64 = 50;

/// Pixels a reader sees as ink: mostly opaque and darker than light grey (strokes on a
/// transparent or white pad). Decodes the whole image, refusing any decoding error.
fn ink_pixels(png_bytes: &[u8]) -> Result<u64, SignatureError> {
    let undecodable = || SignatureError::Invalid("the PNG cannot be decoded");
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    // 8 bits per sample; palettes and transparency chunks expanded to grey/RGB with alpha.
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|_| undecodable())?;
    let (colour, _) = reader.output_color_type();
    let samples = colour.samples();
    let mut ink = 0u64;
    while let Some(row) = reader.next_row().map_err(|_| undecodable())? {
        for px in row.data().chunks_exact(samples) {
            let (luma, alpha) = match (colour, px) {
                (png::ColorType::Grayscale, [g]) => (u32::from(*g), 255),
                (png::ColorType::GrayscaleAlpha, [g, a]) => (u32::from(*g), *a),
                (png::ColorType::Rgb, [r, g, b]) => (luma(*r, *g, *b), 255),
                (png::ColorType::Rgba, [r, g, b, a]) => (luma(*r, *g, *b), *a),
                _ => return Err(undecodable()),
            };
            if alpha >= 64 && luma <= 160 {
                ink += 1;
            }
        }
    }
    reader.finish().map_err(|_| undecodable())?;
    Ok(ink)
}

/// Rec. 601 luma, 0-255.
fn luma(r: u8, g: u8, b: u8) -> u32 {
    (299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b)) / 1000
}

/// CRC-32 (ISO 3309, as PNG uses), bitwise: only the 17 header bytes are checked.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A real `width` x `height` RGBA PNG: transparent, with a dark diagonal stroke when `ink`.
#[cfg(test)]
pub(crate) fn drawn_png(width: u32, height: u32, ink: bool) -> Vec<u8> {
    let mut pixels = vec![0u8; (width * height * 4) as usize];
    if ink {
        for x in 0..width {
            let y = x * height / width;
            let at = ((y * width + x) * 4) as usize;
            pixels[at..at + 4].copy_from_slice(&[20, 20, 60, 255]);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    out
}

/// A minimal valid PNG header and trailer of `width` x `height`, no image data (tests of
/// the header checks build images with it).
#[cfg(test)]
pub(crate) fn png_of(width: u32, height: u32) -> Vec<u8> {
    let mut out = PNG_MAGIC.to_vec();
    let mut chunk = b"IHDR".to_vec();
    chunk.extend_from_slice(&width.to_be_bytes());
    chunk.extend_from_slice(&height.to_be_bytes());
    chunk.extend_from_slice(&[8, 6, 0, 0, 0]);
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    out.extend_from_slice(&IEND);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_iend_constant_carries_its_own_crc() {
        assert_eq!(crc32(b"IEND").to_be_bytes(), IEND[8..]);
    }

    #[test]
    fn a_well_formed_png_within_limits_is_accepted() {
        let limits = SignatureLimits::default();
        assert_eq!(
            check(&drawn_png(600, 200, true), &limits).unwrap(),
            SignatureImage {
                width: 600,
                height: 200
            }
        );
    }

    #[test]
    fn content_not_the_name_decides() {
        let limits = SignatureLimits::default();
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10].repeat(10);
        assert!(matches!(
            check(&jpeg, &limits),
            Err(SignatureError::Invalid(_))
        ));
        let mut bad_crc = drawn_png(600, 200, true);
        bad_crc[20] ^= 1;
        assert!(matches!(
            check(&bad_crc, &limits),
            Err(SignatureError::Invalid(_))
        ));
        let good = drawn_png(600, 200, true);
        assert!(check(&good[..good.len() - 1], &limits).is_err());
    }

    #[test]
    fn a_signature_must_decode_and_show_ink() {
        let limits = SignatureLimits::default();
        let refused = |png: &[u8]| match check(png, &limits) {
            Err(SignatureError::Invalid(why)) => why,
            other => panic!("{other:?}"),
        };
        // A header and trailer with no image data: nothing to decode.
        assert_eq!(refused(&png_of(600, 200)), "the PNG cannot be decoded");
        // Fully transparent.
        assert_eq!(
            refused(&drawn_png(600, 200, false)),
            "the signature has no visible ink"
        );
        // Corrupt image data under a valid header and trailer.
        let mut corrupt = drawn_png(600, 200, true);
        let data = corrupt.len() - 12 - 8;
        corrupt[data] ^= 0xFF;
        assert!(check(&corrupt, &limits).is_err());
    }

    #[test]
    fn size_and_dimensions_are_limited() {
        let limits = SignatureLimits {
            max_bytes: 100,
            ..SignatureLimits::default()
        };
        assert!(matches!(
            check(&[0u8; 101], &limits),
            Err(SignatureError::TooLarge { max_bytes: 100 })
        ));
        for (w, h) in [(10, 200), (600, 5), (5000, 200), (600, 5000)] {
            assert!(
                matches!(
                    check(&png_of(w, h), &limits),
                    Err(SignatureError::Dimensions { .. })
                ),
                "{w}x{h}"
            );
        }
    }
}
