using System.Reflection;
using Xunit;

namespace SessionTracking.TestSupport;

/// <summary>
/// The two lanes. <see cref="Fast"/> (<c>BVT</c>): unit tests, grains on a TestCluster and the gateway in this
/// process (<see cref="GatewayHost{TEntryPoint}"/>).
/// <see cref="Slow"/> (<c>SlowBVT</c>): anything that starts processes, a cluster, a browser, or runs fuzz, load or
/// large-data tests. <c>./test.sh</c> runs both.
/// </summary>
public static class TestLanes
{
    public const string Fast = "BVT";

    public const string Slow = "SlowBVT";

    /// <summary>The tests of <paramref name="assembly"/> not in exactly one lane (by their own or their class's category).</summary>
    public static IReadOnlyList<string> TestsWithoutOneLane(Assembly assembly) =>
    [
        .. from type in assembly.GetTypes()
           from method in type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
           where method.IsDefined(typeof(FactAttribute), inherit: true)
           let lanes = method.GetCustomAttributes<TestCategoryAttribute>()
               .Concat(type.GetCustomAttributes<TestCategoryAttribute>())
               .Select(c => c.Category)
               .Where(c => c is Fast or Slow)
               .Distinct()
               .Count()
           where lanes != 1
           select $"{type.FullName}.{method.Name}",
    ];
}
