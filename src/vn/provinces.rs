//! The official provinces and wards/communes of Vietnam after the July 2025 reorganisation
//! (34 provinces and centrally-run cities, two levels): the list that validates addresses at
//! intake and fills the counter's select lists, so a certificate's `ST` is always a real
//! province.
//!
//! The data is `src/vn/provinces.json` (source, version, date and licence in its header), compiled
//! in and parsed once; [`load`] at start-up makes a broken file stop the service there.
//!
//! Names are matched leniently and answered in the official spelling: case and surrounding or
//! repeated spaces never matter; the unit type may be left out (`Hà Nội` for `Thành phố Hà
//! Nội`, `Cao Bằng` for `Tỉnh Cao Bằng`, `Cửa Nam` for `Phường Cửa Nam`); diacritics may be
//! left out only where that leaves a single candidate (`Xã Văn Lang` and `Xã Văn Lăng` are both
//! communes of Thái Nguyên, so `xa van lang` matches neither there).

use std::sync::LazyLock;

use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

const DATA: &str = include_str!("provinces.json");

/// The number of provinces and centrally-run cities since 1 July 2025.
pub const PROVINCE_COUNT: usize = 34;

#[derive(Deserialize)]
struct File {
    source: String,
    package_version: String,
    data_version: String,
    licence: String,
    provinces: Vec<RawProvince>,
}

#[derive(Deserialize)]
struct RawProvince {
    code: u16,
    name: String,
    wards: Vec<(u32, String)>,
}

/// Where the list comes from, for the README and the pages that show it.
pub struct Source {
    pub source: String,
    pub package_version: String,
    pub data_version: String,
    pub licence: String,
}

/// A province or centrally-run city, with its wards, communes and special zones.
pub struct Province {
    code: u16,
    name: String,
    wards: Vec<Ward>,
}

/// A ward (phường), commune (xã) or special zone (đặc khu).
pub struct Ward {
    code: u32,
    name: String,
}

struct Data {
    source: Source,
    provinces: Vec<Province>,
}

static LIST: LazyLock<Data> = LazyLock::new(|| parse(DATA).unwrap_or_else(|e| panic!("{e}")));

fn parse(text: &str) -> Result<Data, String> {
    let file: File =
        serde_json::from_str(text).map_err(|e| format!("src/vn/provinces.json: {e}"))?;
    if file.provinces.len() != PROVINCE_COUNT {
        return Err(format!(
            "src/vn/provinces.json: {} provinces, expected {PROVINCE_COUNT}",
            file.provinces.len()
        ));
    }
    let provinces = file
        .provinces
        .into_iter()
        .map(|p| {
            if p.wards.is_empty() {
                return Err(format!("src/vn/provinces.json: {} has no wards", p.name));
            }
            Ok(Province {
                code: p.code,
                name: p.name.nfc().collect(),
                wards: p
                    .wards
                    .into_iter()
                    .map(|(code, name)| Ward {
                        code,
                        name: name.nfc().collect(),
                    })
                    .collect(),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Data {
        source: Source {
            source: file.source,
            package_version: file.package_version,
            data_version: file.data_version,
            licence: file.licence,
        },
        provinces,
    })
}

/// Parses the embedded list now instead of on first use.
///
/// # Panics
/// If `src/vn/provinces.json` is malformed (a build defect).
pub fn load() {
    LazyLock::force(&LIST);
}

/// Where the list comes from.
pub fn source() -> &'static Source {
    &LIST.source
}

/// The 34 provinces, in the official order of their codes.
pub fn all() -> &'static [Province] {
    &LIST.provinces
}

/// The province with this official code (`1` Hà Nội … `96` Cà Mau).
pub fn by_code(code: u16) -> Option<&'static Province> {
    all().iter().find(|p| p.code == code)
}

/// The province `name` designates (see the module documentation for the matching rules).
pub fn find(name: &str) -> Option<&'static Province> {
    unique(
        all(),
        name,
        |p| &p.name,
        &["thành phố ", "tỉnh ", "tp. ", "tp "],
    )
}

impl Province {
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The official name with its unit type: `Thành phố Hà Nội`, `Tỉnh Cao Bằng`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Wards, communes and special zones, by name.
    pub fn wards(&self) -> &[Ward] {
        &self.wards
    }

    /// The ward or commune of this province that `name` designates.
    pub fn find_ward(&'static self, name: &str) -> Option<&'static Ward> {
        unique(
            &self.wards,
            name,
            |w| &w.name,
            &["phường ", "xã ", "đặc khu "],
        )
    }
}

impl Ward {
    pub fn code(&self) -> u32 {
        self.code
    }

    /// The official name: `Phường Cửa Nam`, `Xã Văn Lăng`, `Đặc khu Côn Đảo`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Lower case, NFC, single spaces.
fn key(s: &str) -> String {
    let s: String = s.nfc().collect::<String>().to_lowercase();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn strip<'a>(s: &'a str, prefixes: &[&str]) -> &'a str {
    prefixes.iter().find_map(|p| s.strip_prefix(p)).unwrap_or(s)
}

/// The one item whose name matches `wanted`, trying the strictest comparison first: the whole
/// name, then both without the unit type, then these two again without diacritics. A
/// comparison that finds two items is ambiguous and answers nothing.
fn unique<'a, T>(
    items: &'a [T],
    wanted: &str,
    name: impl Fn(&T) -> &str,
    prefixes: &[&str],
) -> Option<&'a T> {
    let folded_prefixes: Vec<String> = prefixes
        .iter()
        .map(|p| super::without_diacritics(p))
        .collect();
    let folded_prefixes: Vec<&str> = folded_prefixes.iter().map(String::as_str).collect();
    // A name under the four comparisons, in order.
    let forms = |s: &str| {
        let full = key(s);
        let folded = super::without_diacritics(&full);
        let bare = strip(&full, prefixes).to_owned();
        let bare_folded = strip(&folded, &folded_prefixes).to_owned();
        [full, bare, folded, bare_folded]
    };
    let wanted = forms(wanted);
    let candidates: Vec<_> = items.iter().map(|i| (i, forms(name(i)))).collect();
    for (tier, target) in wanted.iter().enumerate() {
        let mut hits = candidates.iter().filter(|(_, f)| f[tier] == *target);
        match (hits.next(), hits.next()) {
            (Some((item, _)), None) => return Some(item),
            (Some(_), Some(_)) => return None,
            (None, _) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_has_34_provinces_and_3321_wards_with_unique_codes() {
        load();
        assert_eq!(all().len(), PROVINCE_COUNT);
        let wards: Vec<u32> = all()
            .iter()
            .flat_map(|p| p.wards().iter().map(Ward::code))
            .collect();
        assert_eq!(wards.len(), 3321);
        let mut unique = wards.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), wards.len());
        assert_eq!(source().data_version, "2025-10-18");
    }

    #[test]
    fn provinces_are_found_by_official_name_with_or_without_type_and_accents() {
        for name in [
            "Thành phố Hà Nội",
            "Hà Nội",
            "  thành phố  hà nội ",
            "Ha Noi",
            "TP Hà Nội",
        ] {
            assert_eq!(
                find(name).map(Province::name),
                Some("Thành phố Hà Nội"),
                "{name}"
            );
        }
        for name in ["Cao Bằng", "Tỉnh Cao Bằng", "cao bang", "tinh cao bang"] {
            assert_eq!(find(name).map(Province::code), Some(4), "{name}");
        }
        assert_eq!(
            by_code(79).map(Province::name),
            Some("Thành phố Hồ Chí Minh")
        );
        for name in ["Atlantis", "", "Hà", "Bà Rịa - Vũng Tàu", "Thành phố"] {
            assert!(find(name).is_none(), "{name}");
        }
    }

    #[test]
    fn wards_are_found_within_their_province_only() {
        let hanoi = find("Hà Nội").unwrap();
        for name in ["Phường Cửa Nam", "Cửa Nam", "phuong cua nam", "cua nam"] {
            assert_eq!(
                hanoi.find_ward(name).map(Ward::name),
                Some("Phường Cửa Nam"),
                "{name}"
            );
        }
        assert!(find("Cà Mau")
            .unwrap()
            .find_ward("Phường Cửa Nam")
            .is_none());
        assert!(hanoi.find_ward("Atlantis").is_none());
    }

    #[test]
    fn a_name_that_loses_its_accents_into_two_wards_is_ambiguous() {
        let thai_nguyen = find("Thái Nguyên").unwrap();
        assert_eq!(
            thai_nguyen.find_ward("Xã Văn Lăng").map(Ward::code),
            Some(5665)
        );
        assert_eq!(
            thai_nguyen.find_ward("văn lang").map(Ward::code),
            Some(2143)
        );
        assert!(thai_nguyen.find_ward("xa van lang").is_none());
    }
}
