//! Identity documents of an application: kinds, and the image formats accepted, recognised
//! by their content (magic bytes), never by what the client declares.

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
}
