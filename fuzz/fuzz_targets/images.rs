//! Uploaded identity documents are recognised by their first bytes, decoded whole under
//! limits and re-encoded (`enrolment::normalise_image`), and the drawn signature PNG is
//! checked by its header and trailer (`contract::check_signature`): none may panic, whatever
//! the bytes; an accepted document re-decodes to the same dimensions and type, and an
//! accepted signature must be a PNG within the limits.
#![no_main]

use ca_enrol::contract::{check_signature, SignatureLimits};
use ca_enrol::enrolment::{normalise_image, DocumentKind, ImageType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let sniffed = ImageType::sniff(data);
    if let Some(kind) = sniffed {
        assert_eq!(
            ImageType::from_content_type(kind.content_type()),
            Some(kind)
        );
    }
    if let Ok(image) = normalise_image(DocumentKind::Portrait, data) {
        assert_eq!(Some(image.image_type), sniffed);
        let again = normalise_image(DocumentKind::Portrait, &image.bytes)
            .unwrap_or_else(|_| panic!("a re-encoded image decodes"));
        assert_eq!((again.width, again.height), (image.width, image.height));
        assert_eq!(again.image_type, image.image_type);
    }
    let limits = SignatureLimits::default();
    if let Ok(image) = check_signature(data, &limits) {
        assert_eq!(sniffed, Some(ImageType::Png));
        assert!(data.len() <= limits.max_bytes);
        assert!((limits.min_width..=limits.max_width).contains(&image.width));
        assert!((limits.min_height..=limits.max_height).contains(&image.height));
    }
});
