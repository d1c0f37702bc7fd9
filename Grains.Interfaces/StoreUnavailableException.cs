namespace SessionTracking;

/// <summary>
/// The session store cannot be reached or refused a write. Nothing in the failed call was acknowledged;
/// the gateway answers 503 with Retry-After and clients retry with the same event ids.
/// </summary>
[GenerateSerializer, Alias("SessionTracking.StoreUnavailableException")]
public sealed class StoreUnavailableException : Exception
{
    public StoreUnavailableException()
    {
    }

    public StoreUnavailableException(string message)
        : base(message)
    {
    }

    public StoreUnavailableException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
