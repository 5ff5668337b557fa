//! Cost estimate from the provider's published per-second prices
//! (reference: openai-videos-api.md §7). Kept in integer cents so sums are exact.

use super::model::{Model, Size};

/// USD cents per generated second.
pub fn cents_per_second(model: Model, size: Size) -> u64 {
    match (model, size.requires_pro()) {
        (Model::Sora2, _) => 10,
        (Model::Sora2Pro, false) => 30,
        (Model::Sora2Pro, true) => 50,
    }
}

/// Estimated price of one job in USD cents, e.g. `40` for 4 s of sora-2.
pub fn estimate_cents(model: Model, size: Size, seconds: u32) -> u64 {
    cents_per_second(model, size) * u64::from(seconds)
}

/// Estimated price of one job in USD, e.g. `0.4` for 4 s of sora-2.
pub fn estimate_usd(model: Model, size: Size, seconds: u32) -> f64 {
    estimate_cents(model, size, seconds) as f64 / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_follow_the_table() {
        let cases = [
            (Model::Sora2, Size::Portrait720, 4, 0.40),
            (Model::Sora2, Size::Landscape720, 12, 1.20),
            (Model::Sora2Pro, Size::Portrait720, 8, 2.40),
            (Model::Sora2Pro, Size::Landscape720, 4, 1.20),
            (Model::Sora2Pro, Size::PortraitTall, 12, 6.00),
            (Model::Sora2Pro, Size::LandscapeWide, 4, 2.00),
        ];
        for (model, size, secs, usd) in cases {
            assert_eq!(
                estimate_usd(model, size, secs),
                usd,
                "{model} {size} {secs}s"
            );
        }
    }
}
