using System.Reflection;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using SessionTracking.TestSupport;

namespace SessionTracking.Gateway.Tests;

/// <summary>What goes on the wire is the gateway's own records, never the grains' messages.</summary>
[TestCategory("BVT")]
[Collection(GatewayCollection.Name)]
public sealed class WireContractTests(SmallLimitsGateway gateway)
{
    [Fact]
    public void No_answer_carries_a_grain_record()
    {
        using var _ = gateway.CreateClient();
        var grainAssembly = typeof(ISessionGrain).Assembly;
        var answers = gateway.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .SelectMany(e => e.Metadata.OfType<IProducesResponseTypeMetadata>())
            .Select(m => m.Type)
            .OfType<Type>()
            .Distinct()
            .ToList();

        Assert.Contains(answers, t => t.Name == "ReportsResponse");
        var offending = answers.SelectMany(t => Reachable(t, [])).Where(t => t.Assembly == grainAssembly).Distinct().ToList();
        Assert.True(offending.Count == 0, "grain types on the wire: " + string.Join(", ", offending));
    }

    private static IEnumerable<Type> Reachable(Type type, HashSet<Type> seen)
    {
        if (!seen.Add(type) || type.IsPrimitive || type == typeof(string))
        {
            yield break;
        }

        yield return type;
        var children = type.IsGenericType ? type.GetGenericArguments() : [];
        children = [.. children, .. type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(p => p.PropertyType)];
        if (type.IsArray)
        {
            children = [.. children, type.GetElementType()!];
        }

        foreach (var child in children.Where(c => c.Namespace?.StartsWith("System", StringComparison.Ordinal) != true || c.IsGenericType || c.IsArray))
        {
            foreach (var reached in Reachable(child, seen))
            {
                yield return reached;
            }
        }
    }
}
