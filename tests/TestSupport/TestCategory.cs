using Xunit.Abstractions;
using Xunit.Sdk;

namespace SessionTracking.TestSupport;

/// <summary>
/// Puts a test class or method in a lane, as the trait <c>Category</c> (the Orleans repository's convention), so that
/// <c>dotnet test --filter Category=BVT</c> selects the fast lane and <c>--filter Category!=BVT</c> the slow one.
/// See <see cref="TestLanes"/>.
/// </summary>
[TraitDiscoverer("SessionTracking.TestSupport.TestCategoryDiscoverer", "SessionTracking.TestSupport")]
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = true)]
public sealed class TestCategoryAttribute(string category) : Attribute, ITraitAttribute
{
    public string Category { get; } = category;
}

/// <summary>Turns <see cref="TestCategoryAttribute"/> into the trait <c>Category</c>.</summary>
public sealed class TestCategoryDiscoverer : ITraitDiscoverer
{
    public IEnumerable<KeyValuePair<string, string>> GetTraits(IAttributeInfo traitAttribute) =>
        [new("Category", traitAttribute.GetConstructorArguments().Single()?.ToString() ?? "")];
}
