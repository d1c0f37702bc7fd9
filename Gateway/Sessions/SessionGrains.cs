using Orleans.Metadata;

namespace SessionTracking.Gateway.Sessions;

/// <summary>
/// Session grain references for the request paths. <c>IGrainFactory.GetGrain&lt;ISessionGrain&gt;(id)</c> works out the
/// interface's Orleans type name from the CLR type on every call (type-name formatting and parsing, a few µs of a
/// request that costs ~100); the interface and grain types do not change while the process runs, so they are
/// resolved once and each request only builds the grain id.
/// </summary>
internal sealed class SessionGrains(IGrainFactory grains, GrainInterfaceTypeResolver interfaceTypes, GrainInterfaceTypeToGrainTypeResolver grainTypes)
{
    private Types? _types; // a reference, so that threads see both types or none


    public ISessionGrain Get(string sessionId)
    {
        if (_types is not { } types)
        {
            var interfaceType = interfaceTypes.GetGrainInterfaceType(typeof(ISessionGrain));

            // A client that has not yet seen the cluster's manifest does not know the grain type: no cache until it does.
            if (!grainTypes.TryGetGrainType(interfaceType, out var grainType))
            {
                return grains.GetGrain<ISessionGrain>(sessionId);
            }

            _types = types = new Types(grainType, interfaceType);
        }

        return (ISessionGrain)grains.GetGrain(GrainId.Create(types.Grain, sessionId), types.Interface);
    }

    private sealed record Types(GrainType Grain, GrainInterfaceType Interface);
}
