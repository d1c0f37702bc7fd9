using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace SessionTracking.Gateway.Http;

/// <summary>
/// Reads a JSON request body within the configured limits. Browsers' <c>sendBeacon</c> posts text/plain to avoid a
/// CORS preflight, so text/plain (and a missing Content-Type) is read as JSON too.
/// </summary>
internal sealed class JsonBody(IOptions<GatewayOptions> options)
{
    private readonly GatewayOptions _options = options.Value;

    public async ValueTask<(JsonDocument? Document, ProblemHttpResult? Problem)> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (!IsAcceptedContentType(request.ContentType))
        {
            return (null, Problems.UnsupportedMediaType(request.ContentType));
        }

        var limit = _options.MaxBodyBytes;
        if (request.ContentLength > limit)
        {
            return (null, TooLarge(limit));
        }

        var reader = request.BodyReader;
        ReadResult read;
        while (true)
        {
            try
            {
                read = await reader.ReadAsync(cancellationToken);
            }
            catch (BadHttpRequestException ex)
            {
                return (null, Problems.Create(ex.StatusCode, "Invalid request body", "The request body could not be read."));
            }

            if (read.Buffer.Length > limit)
            {
                reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
                return (null, TooLarge(limit));
            }

            if (read.IsCompleted || read.IsCanceled)
            {
                break;
            }

            // Keep everything buffered until the whole body is in.
            reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }

        try
        {
            if (read.Buffer.IsEmpty)
            {
                return (null, Problems.BadRequest("The request body is empty; a JSON object is expected."));
            }

            // The document keeps referencing its input, so it gets a copy the pipe cannot recycle.
            var document = JsonDocument.Parse(read.Buffer.ToArray(), new JsonDocumentOptions { MaxDepth = _options.MaxJsonDepth });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                return (null, Problems.BadRequest("The request body must be a JSON object."));
            }

            return (document, null);
        }
        catch (JsonException ex)
        {
            return (null, Problems.BadRequest($"The request body is not valid JSON (max depth {_options.MaxJsonDepth}): {ex.Message}"));
        }
        finally
        {
            reader.AdvanceTo(read.Buffer.End);
        }
    }

    private static ProblemHttpResult TooLarge(int limit) =>
        Problems.TooLarge($"The request body exceeds the limit of {limit} bytes (Gateway:MaxBodyBytes).");

    private static bool IsAcceptedContentType(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType))
        {
            return true;
        }

        var mediaType = contentType.AsSpan();
        var semicolon = mediaType.IndexOf(';');
        if (semicolon >= 0)
        {
            mediaType = mediaType[..semicolon];
        }

        mediaType = mediaType.Trim();
        return mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || mediaType.Equals("text/plain", StringComparison.OrdinalIgnoreCase)
            || (mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase) && mediaType.StartsWith("application/", StringComparison.OrdinalIgnoreCase));
    }
}
