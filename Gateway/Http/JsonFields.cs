using System.Text.Json;

namespace SessionTracking.Gateway.Http;

/// <summary>Typed field access on a request object that names the offending field when it is wrong.</summary>
internal static class JsonFields
{
    /// <summary>Reads an optional string field; a present non-string or over-long value is an error.</summary>
    public static bool TryGetString(JsonElement obj, string name, int maxLength, out string? value, out string? error)
    {
        value = null;
        error = null;
        if (!obj.TryGetProperty(name, out var property) || property.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (property.ValueKind != JsonValueKind.String)
        {
            error = $"'{name}' must be a string.";
            return false;
        }

        try
        {
            value = property.GetString()!;
        }
        catch (InvalidOperationException)
        {
            // An escaped lone surrogate ("\ud800") is valid JSON syntax but no valid string: refuse it, don't throw.
            error = $"'{name}' is not a valid Unicode string.";
            return false;
        }

        if (value.Length > maxLength)
        {
            error = $"'{name}' is longer than {maxLength} characters.";
            return false;
        }

        return true;
    }

    /// <summary>
    /// Reads a required, non-blank string field. <paramref name="label"/> names it in the "required" error where the
    /// request may use another name for it (an alias): the client learns both.
    /// </summary>
    public static bool TryGetRequiredString(JsonElement obj, string name, int maxLength, out string value, out string? error, string? label = null)
    {
        if (!TryGetString(obj, name, maxLength, out var found, out error))
        {
            value = "";
            return false;
        }

        if (string.IsNullOrWhiteSpace(found))
        {
            value = "";
            error = $"{label ?? $"'{name}'"} is required and must be a non-empty string.";
            return false;
        }

        value = found;
        return true;
    }

    /// <summary>Reads an optional object field as raw JSON; a present value that is not an object is an error.</summary>
    public static bool TryGetObjectJson(JsonElement obj, string name, out string? json, out string? error)
    {
        json = null;
        error = null;
        if (!obj.TryGetProperty(name, out var property) || property.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (property.ValueKind != JsonValueKind.Object)
        {
            error = $"'{name}' must be a JSON object.";
            return false;
        }

        json = property.GetRawText();
        return true;
    }

    /// <summary>Reads an optional boolean field.</summary>
    public static bool TryGetBoolean(JsonElement obj, string name, out bool value, out string? error)
    {
        value = false;
        error = null;
        if (!obj.TryGetProperty(name, out var property) || property.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (property.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            error = $"'{name}' must be true or false.";
            return false;
        }

        value = property.GetBoolean();
        return true;
    }
}
