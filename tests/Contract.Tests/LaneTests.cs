using SessionTracking.TestSupport;

namespace SessionTracking.Contract.Tests;

[TestCategory("BVT")]
public sealed class LaneTests
{
    [Fact]
    public void Every_test_is_in_one_lane() => Assert.Empty(TestLanes.TestsWithoutOneLane(typeof(LaneTests).Assembly));
}
