namespace SessionTracking.TestSupport;

/// <summary>
/// Event <c>data</c> objects that are valid JSON but that a store could easily change or refuse: numbers beyond 64 bits
/// and beyond double precision, extended-JSON look-alikes (<c>$date</c>, <c>$oid</c>, <c>$numberDecimal</c>), keys with
/// a NUL, a dot or nothing in them, a duplicate key, 1 beside 1.0, escapes and deep nesting. Every store must give each
/// back exactly as it was written (data is kept as accepted, values and types).
/// </summary>
public static class PoisonData
{
    public static readonly IReadOnlyList<string> Objects =
    [
        """{"n":123456789012345678901234567890,"neg":-98765432109876543210}""",
        """{"max":1.7976931348623157e308,"tiny":4.9e-324,"under":1e-400,"z":-0.0,"e":1E2}""",
        """{"i":1,"f":1.0,"s":"1","b":true,"nil":null}""",
        """{"$date":"x"}""",
        """{"$date":{"$numberLong":"1730000000000"}}""",
        """{"$oid":"5f1d7c0e9b1e8a3b2c4d5e6f"}""",
        """{"$numberDecimal":"1.5","$regularExpression":{"pattern":"a","options":""}}""",
        """{"v":{"$date":1730000000000},"w":{"$numberInt":"7"}}""",
        """{"k\u0000ey":1,"a.b":2,"":3,"$":4}""",
        """{"a":1,"a":2}""",
        """{"s":"\ud83d\ude00 \u00e9 \u2028 \"quoted\" \\ back","raw":"é😀"}""",
        """{ "spaced" : [ 1 , 2 ] , "arr":[[],{},[{"$oid":"x"}]] }""",
        "{\"deep\":" + new string('[', 25) + "1" + new string(']', 25) + "}",
    ];
}
