using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Microsoft.OpenApi;
using SessionTracking.Analytics;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Analytics;

/// <summary>Reads the common query parameters of analytics and exports: experiment_id, model_group, from, to.</summary>
internal static class AnalyticsRequest
{
    /// <summary>Declares the filter's query parameters in the OpenAPI document.</summary>
    public static TBuilder WithFilterParameters<TBuilder>(this TBuilder builder, int maxNameLength)
        where TBuilder : IEndpointConventionBuilder => builder
            .WithQueryParameter(new QueryParameter("experiment_id", "Only this experiment.", JsonSchemaType.String, MaxLength: maxNameLength))
            .WithQueryParameter(new QueryParameter("model_group", "Only this model group.", JsonSchemaType.String, MaxLength: maxNameLength))
            .WithQueryParameter(new QueryParameter("from", "Sessions started at or after: ISO 8601 (no offset means UTC) or Unix milliseconds.", JsonSchemaType.String))
            .WithQueryParameter(new QueryParameter("to", "Sessions started before: ISO 8601 or Unix milliseconds; later than `from`.", JsonSchemaType.String));

    public static bool TryReadFilter(HttpRequest request, out AnalyticsFilter filter, [NotNullWhen(false)] out string? error)
    {
        filter = new AnalyticsFilter();
        var query = request.Query;
        var maxNameLength = request.HttpContext.RequestServices.GetRequiredService<WireLimits>().MaxFieldLength;
        if (!TryReadName(query, "experiment_id", maxNameLength, out var experiment, out error)
            || !TryReadName(query, "model_group", maxNameLength, out var group, out error)
            || !TryReadTime(query, "from", out var from, out error)
            || !TryReadTime(query, "to", out var to, out error))
        {
            return false;
        }

        if (from is { } f && to is { } t && t <= f)
        {
            error = "'to' must be later than 'from'.";
            return false;
        }

        filter = new AnalyticsFilter(experiment, from, to, group);
        return true;
    }

    /// <summary>An optional name (a group, an experiment) beside the filter: at most the wire's field length.</summary>
    public static bool TryReadName(HttpRequest request, string name, out string? value, [NotNullWhen(false)] out string? error) =>
        TryReadName(request.Query, name, request.HttpContext.RequestServices.GetRequiredService<WireLimits>().MaxFieldLength, out value, out error);

    public static bool TryReadLimit(HttpRequest request, int fallback, int max, out int limit, [NotNullWhen(false)] out string? error)
    {
        limit = fallback;
        error = null;
        var raw = request.Query["limit"].ToString();
        if (raw.Length == 0)
        {
            return true;
        }

        if (!int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1 || limit > max)
        {
            error = $"'limit' must be an integer from 1 to {max}.";
            return false;
        }

        return true;
    }

    private static bool TryReadName(IQueryCollection query, string name, int maxLength, out string? value, [NotNullWhen(false)] out string? error)
    {
        error = null;
        value = query[name].ToString();
        if (value.Length == 0)
        {
            value = null;
            return true;
        }

        if (value.Length > maxLength)
        {
            error = $"'{name}' is longer than {maxLength} characters.";
            return false;
        }

        return true;
    }

    /// <summary>ISO 8601 (an offset or Z; no offset means UTC) or Unix milliseconds.</summary>
    private static bool TryReadTime(IQueryCollection query, string name, out DateTimeOffset? value, [NotNullWhen(false)] out string? error)
    {
        value = null;
        error = null;
        var raw = query[name].ToString();
        if (raw.Length == 0)
        {
            return true;
        }

        if (long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ms)
            && ms is >= -62135596800000 and <= 253402300799999)
        {
            value = DateTimeOffset.FromUnixTimeMilliseconds(ms);
            return true;
        }

        if (DateTimeOffset.TryParse(raw, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
        {
            value = parsed;
            return true;
        }

        error = $"'{name}' must be an ISO 8601 time (e.g. 2024-10-27T10:00:00Z) or Unix milliseconds.";
        return false;
    }
}
