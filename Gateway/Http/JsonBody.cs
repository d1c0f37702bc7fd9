using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace SessionTracking.Gateway.Http;

/// <summary>A single-pass reader of a whole request body; false to leave the body to the document path.</summary>
internal delegate bool TryReadBody<T>(ReadOnlySpan<byte> json, out T? value)
    where T : class;

/// <summary>
/// Reads a JSON request body within the configured limits. Browsers' <c>sendBeacon</c> posts text/plain to avoid a
/// CORS preflight, so text/plain (and a missing Content-Type) is read as JSON too.
/// </summary>
internal sealed class JsonBody(IOptions<GatewayOptions> options)
{
    private readonly GatewayOptions _options = options.Value;

    public async ValueTask<(JsonDocument? Document, ProblemHttpResult? Problem)> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var (_, document, problem) = await ReadAsync<object>(request, tryRead: null, cancellationToken);
        return (document, problem);
    }

    /// <summary>
    /// Reads the body and offers it first to <paramref name="tryRead"/>, a single pass over the bytes where they lie in
    /// the request pipe (no copy, no document). When it declines (anything unexpected, every error included), the body
    /// is parsed into a document, whose readers then give the answer: exactly as <see cref="ReadAsync(HttpRequest, CancellationToken)"/>.
    /// </summary>
    public async ValueTask<(T? Value, JsonDocument? Document, ProblemHttpResult? Problem)> ReadAsync<T>(HttpRequest request, TryReadBody<T>? tryRead, CancellationToken cancellationToken)
        where T : class
    {
        if (!IsAcceptedContentType(request.ContentType))
        {
            return (null, null, Problems.UnsupportedMediaType(request.ContentType));
        }

        var limit = _options.MaxBodyBytes;
        if (request.ContentLength > limit)
        {
            return (null, null, TooLarge(limit));
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
                return (null, null, Problems.Create(ex.StatusCode, "Invalid request body", "The request body could not be read."));
            }

            if (read.Buffer.Length > limit)
            {
                reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
                return (null, null, TooLarge(limit));
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
                return (null, null, Problems.BadRequest("The request body is empty; a JSON object is expected."));
            }

            if (tryRead is not null && TryReadInPlace(read.Buffer, tryRead, out var value))
            {
                return (value, null, null);
            }

            // The document keeps referencing its input, so it gets a copy the pipe cannot recycle.
            var document = JsonDocument.Parse(read.Buffer.ToArray(), new JsonDocumentOptions { MaxDepth = _options.MaxJsonDepth });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                return (null, null, Problems.BadRequest("The request body must be a JSON object."));
            }

            return (null, document, null);
        }
        catch (JsonException ex)
        {
            return (null, null, Problems.BadRequest($"The request body is not valid JSON (max depth {_options.MaxJsonDepth}): {ex.Message}"));
        }
        finally
        {
            reader.AdvanceTo(read.Buffer.End);
        }
    }

    private static bool TryReadInPlace<T>(in ReadOnlySequence<byte> body, TryReadBody<T> tryRead, out T? value)
        where T : class
    {
        if (body.IsSingleSegment)
        {
            return tryRead(body.FirstSpan, out value);
        }

        // A body spread over several pipe segments (larger than Kestrel's 4 KB blocks) is joined in a pooled buffer.
        var length = (int)body.Length;
        var joined = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            body.CopyTo(joined);
            return tryRead(joined.AsSpan(0, length), out value);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(joined);
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
