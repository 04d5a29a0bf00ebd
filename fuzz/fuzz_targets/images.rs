//! Uploaded identity documents are recognised by their first bytes, and the drawn signature
//! PNG is checked by its header and trailer (`contract::check_signature`): neither may panic,
//! whatever the bytes, and an accepted signature must be a PNG within the limits.
#![no_main]

use ca_enrol::contract::{check_signature, SignatureLimits};
use ca_enrol::enrolment::ImageType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let sniffed = ImageType::sniff(data);
    if let Some(kind) = sniffed {
        assert_eq!(
            ImageType::from_content_type(kind.content_type()),
            Some(kind)
        );
    }
    let limits = SignatureLimits::default();
    if let Ok(image) = check_signature(data, &limits) {
        assert_eq!(sniffed, Some(ImageType::Png));
        assert!(data.len() <= limits.max_bytes);
        assert!((limits.min_width..=limits.max_width).contains(&image.width));
        assert!((limits.min_height..=limits.max_height).contains(&image.height));
    }
});
