//! SCALE-Sim prints floats with Python's `repr`; these expectations were printed by CPython 3.11.

use simcore::report::python_float_repr;

#[test]
fn floats_print_like_python_repr() {
    let cases = [
        (1.0, "1.0"),
        (-3277.0, "-3277.0"),
        (0.1, "0.1"),
        (1e16, "1e+16"),
        (1.5e-5, "1.5e-05"),
        (0.0001, "0.0001"),
        (0.00012345, "0.00012345"),
        (123456789012345.6, "123456789012345.6"),
        (1234567890123456.7, "1234567890123456.8"),
        (9.997, "9.997"),
        (2.5e-320, "2.5e-320"),
        (f64::MAX, "1.7976931348623157e+308"),
        (-0.0, "-0.0"),
        (100.0, "100.0"),
        (1e15, "1000000000000000.0"),
        (12345678.9, "12345678.9"),
        (3.0e-4, "0.0003"),
    ];
    for (value, expected) in cases {
        assert_eq!(python_float_repr(value), expected, "{value:e}");
    }
}
