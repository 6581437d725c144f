//! Resource quantities (`100m`, `0.5`, `128Mi`, `1G`, `1e3`) read as the integers the
//! scheduler compares: millicores for cpu, plain units (bytes, devices) for everything else.
//! Parsing is berth-api's; like apimachinery's `Quantity.MilliValue()` and `Value()`, results
//! round up, and out-of-range values saturate rather than wrap.

use berth_api::quantity::Quantity;

fn saturate(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// The quantity in thousandths (millicores for cpu).
pub fn milli_value(s: &str) -> Option<i64> {
    Quantity::parse(s).ok().map(|q| saturate(q.as_milli()))
}

/// The quantity in whole units.
pub fn value(s: &str) -> Option<i64> {
    Quantity::parse(s).ok().map(|q| saturate(q.as_value()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_in_millicores() {
        assert_eq!(milli_value("100m"), Some(100));
        assert_eq!(milli_value("0.5"), Some(500));
        assert_eq!(milli_value("1"), Some(1000));
        assert_eq!(milli_value("2.25"), Some(2250));
        assert_eq!(milli_value(".5"), Some(500));
        assert_eq!(milli_value("5."), Some(5000));
        assert_eq!(milli_value("1e3"), Some(1_000_000));
        assert_eq!(milli_value("1E-3"), Some(1));
        assert_eq!(milli_value("0"), Some(0));
        assert_eq!(milli_value("+3"), Some(3000));
    }

    #[test]
    fn fractions_of_a_unit_round_up() {
        assert_eq!(milli_value("0.1m"), Some(1));
        assert_eq!(milli_value("1500u"), Some(2));
        assert_eq!(value("100m"), Some(1));
        assert_eq!(value("0.5Ki"), Some(512));
        assert_eq!(value("1n"), Some(1));
        // Away from zero, as apimachinery's RoundUp does.
        assert_eq!(value("-1.5"), Some(-2));
    }

    #[test]
    fn memory_in_bytes() {
        assert_eq!(value("128Mi"), Some(128 * 1024 * 1024));
        assert_eq!(value("1Gi"), Some(1 << 30));
        assert_eq!(value("1G"), Some(1_000_000_000));
        assert_eq!(value("1k"), Some(1000));
        assert_eq!(value("1Ki"), Some(1024));
        assert_eq!(value("1.5Gi"), Some(3 << 29));
        assert_eq!(value("1e3"), Some(1000));
        assert_eq!(value("12E"), Some(i64::MAX));
        assert_eq!(value("7Ei"), Some(7 << 60));
        assert_eq!(value("110"), Some(110));
    }

    #[test]
    fn huge_values_saturate() {
        assert_eq!(value("100Ei"), Some(i64::MAX));
        // Beyond what the API server accepts: not a quantity at all.
        assert_eq!(value("1e100"), None);
        assert_eq!(
            milli_value("99999999999999999999999999999999999999999"),
            Some(i64::MAX)
        );
        assert_eq!(value("1e-100"), Some(1));
        assert_eq!(value("0e100"), Some(0));
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "", "m", "abc", "1x", "1Mx", "--1", "1e", "1e+", "1.2.3", "Ki",
        ] {
            assert_eq!(value(s), None, "{s:?}");
        }
    }
}
