using System.Net.ServerSentEvents;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace SessionTracking.Gateway.Http;

/// <summary>
/// The OpenAPI document (<c>/openapi/v1.json</c>) of the HTTP contract: request bodies in both accepted media types,
/// every problem an operation can answer, query parameters with their ranges, the server-sent events of
/// /query/stream, the export media types and the operator key. Limits come from <see cref="WireLimits"/>, so the
/// document states what the running service enforces.
/// </summary>
internal static class ApiContract
{
    public const string OperatorKeyScheme = "operatorKey";
    public const string OperatorBearerScheme = "operatorBearer";
    public const string OperatorCookieScheme = "operatorCookie";

    private static readonly string[] BodyMediaTypes = ["application/json", "text/plain"];

    /// <summary>Request bodies read by the gateway's readers: their schemas carry the configured limits.</summary>
    private static readonly HashSet<Type> RequestTypes =
    [
        typeof(StartRequest), typeof(AppendRequest), typeof(EventItem), typeof(EndRequest), typeof(QueryRequestBody), typeof(LogEventRequest),
    ];

    public static IServiceCollection AddApiContract(this IServiceCollection services)
    {
        services.AddOpenApi(options =>
        {
            options.AddDocumentTransformer(DescribeDocumentAsync);
            options.AddOperationTransformer(DescribeOperationAsync);
            options.AddSchemaTransformer(DescribeSchema);
            options.AddDocumentTransformer(RemoveFrameworkSchemas);
        });
        return services;
    }

    /// <summary>The body is read as JSON from <c>application/json</c> or <c>text/plain</c> (what sendBeacon sends).</summary>
    public static RouteHandlerBuilder AcceptsBody<T>(this RouteHandlerBuilder builder)
        where T : notnull => builder.Accepts<T>(BodyMediaTypes[0], BodyMediaTypes[1..]);

    /// <summary>Declares the problems (application/problem+json) an operation answers besides its success.</summary>
    public static RouteHandlerBuilder ProducesProblems(this RouteHandlerBuilder builder, params int[] statusCodes)
    {
        foreach (var status in statusCodes)
        {
            builder.ProducesProblem(status);
        }

        return builder;
    }

    /// <summary>A 429 of this operation may also be a model budget refusal (<c>Query:Budgets</c>), said in its description.</summary>
    public static TBuilder ProducesBudgetRefusals<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(ModelBudgetContract.Instance);

    /// <summary>The 200 answer is a stream of <c>token</c> events, then <c>done</c> or <c>error</c>.</summary>
    public static RouteHandlerBuilder ProducesServerSentEvents(this RouteHandlerBuilder builder) =>
        builder.WithMetadata(new ServerSentEventsContract());

    /// <summary>A query parameter read from the query string by the endpoint itself.</summary>
    public static TBuilder WithQueryParameter<TBuilder>(this TBuilder builder, QueryParameter parameter)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(parameter);

    /// <summary>The 200 answer is a file in one of these media types.</summary>
    public static RouteHandlerBuilder ProducesFile(this RouteHandlerBuilder builder, params string[] mediaTypes) =>
        builder.Produces(StatusCodes.Status200OK, contentType: mediaTypes[0], additionalContentTypes: mediaTypes[1..]).WithMetadata(new FileContract(mediaTypes));

    private static Task DescribeDocumentAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info = new OpenApiInfo
        {
            Title = "Orleans.SessionTracking",
            Version = "v1",
            Description = "Session tracking for LLM products: sessions of typed events, queries to the configured model, analytics and exports. " +
                "Bodies may be application/json or text/plain (what navigator.sendBeacon sends); every error is application/problem+json.",
            License = new OpenApiLicense { Name = "MIT", Identifier = "MIT" },
            Contact = new OpenApiContact { Name = "Orleans.SessionTracking" },
        };
        document.Servers = [new OpenApiServer { Url = "/", Description = "The gateway that serves this document." }];
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[OperatorKeyScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey,
            In = ParameterLocation.Header,
            Name = "X-Api-Key",
            Description = "The operator key (Security:OperatorApiKey). Without a configured key the gateway listens on loopback only and asks for none.",
        };
        document.Components.SecuritySchemes[OperatorBearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "The operator key as a bearer token (what Prometheus sends).",
        };
        document.Components.SecuritySchemes[OperatorCookieScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey,
            In = ParameterLocation.Cookie,
            Name = Security.OperatorAuthentication.CookieName,
            Description = "A browser's operator sign-in (POST /auth/signin with the key, or the OpenID Connect provider): HttpOnly, SameSite=Strict, expiring. " +
                "A state-changing request authenticated by it must also send X-Requested-With from the gateway's own origin.",
        };
        document.Tags ??= new HashSet<OpenApiTag>();
        foreach (var (name, description) in TagDescriptions)
        {
            if (document.Tags.FirstOrDefault(t => t.Name == name) is { } tag)
            {
                tag.Description = description;
            }
            else
            {
                document.Tags.Add(new OpenApiTag { Name = name, Description = description });
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>The framework's schema of its SSE item type, replaced by the events' own schemas.</summary>
    private static Task RemoveFrameworkSchemas(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Components?.Schemas?.Remove("SseItemOfstring");
        return Task.CompletedTask;
    }

    private static readonly (string Name, string Description)[] TagDescriptions =
    [
        ("Sessions", "Start a session, record its events, end it, read it back."),
        ("Query", "Ask the configured model; the exchange is recorded in the session."),
        ("Legacy", "The earlier system's event log."),
        ("Health", "Liveness and readiness."),
        ("Analytics", "Experiment figures computed by the store (operator)."),
        ("Exports", "Sessions and events as JSONL or CSV, streamed (operator)."),
        ("Privacy", "Deletion of everything stored about a user (operator)."),
        ("Experiments", "Sticky assignment of model groups."),
        ("Operator sign-in", "A browser's sign-in as operator: the cookie that operator endpoints accept besides the key."),
    ];

    private static async Task DescribeOperationAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        var document = context.Document!;
        var limits = context.ApplicationServices.GetRequiredService<WireLimits>();
        operation.Responses ??= new OpenApiResponses();

        foreach (var parameter in metadata.OfType<QueryParameter>())
        {
            // An endpoint that binds one of its group's parameters itself declares it already.
            operation.Parameters ??= [];
            if (!operation.Parameters.Any(p => p.Name == parameter.Name && p.In == ParameterLocation.Query))
            {
                operation.Parameters.Add(parameter.ToOpenApi());
            }
        }

        foreach (var parameter in operation.Parameters ?? [])
        {
            if (parameter is OpenApiParameter { Schema: OpenApiSchema schema } p)
            {
                DescribeParameter(p, schema, context.Description.RelativePath, limits);
            }
        }

        // Every operation may meet the per-client rate limit; anything that reaches a grain may meet a store or
        // cluster outage; typed query or route values may fail to bind.
        var problem = await ProblemSchemaAsync(context, cancellationToken);
        AddProblem(operation, StatusCodes.Status429TooManyRequests, problem);
        if (context.Description.RelativePath is not ("healthz" or "readyz"))
        {
            AddProblem(operation, StatusCodes.Status503ServiceUnavailable, problem);
        }

        if (operation.Parameters?.Count > 0)
        {
            AddProblem(operation, StatusCodes.Status400BadRequest, problem);
        }

        // Public operations say so (an empty requirement), operator ones name the key's two forms.
        operation.Security = [new OpenApiSecurityRequirement()];
        if (metadata.OfType<OperatorKeyRequired>().Any())
        {
            AddProblem(operation, StatusCodes.Status401Unauthorized, problem);
            operation.Security =
            [
                new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(OperatorKeyScheme, document)] = [] },
                new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(OperatorBearerScheme, document)] = [] },
                new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(OperatorCookieScheme, document)] = [] },
            ];
        }

        if (metadata.OfType<ServerSentEventsContract>().Any())
        {
            await DescribeServerSentEventsAsync(operation, context, document, cancellationToken);
        }

        if (metadata.OfType<FileContract>().FirstOrDefault() is { } file && operation.Responses.TryGetValue("200", out var ok) && ok is OpenApiResponse okResponse)
        {
            okResponse.Description = "The export, streamed.";
            okResponse.Content = file.MediaTypes.ToDictionary(
                type => type,
                type => new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Description = type == "text/csv" ? "RFC 4180 CSV with a header row." : "One JSON object per line." } });
        }

        foreach (var (status, response) in operation.Responses)
        {
            if (response is OpenApiResponse r && string.IsNullOrEmpty(r.Description))
            {
                r.Description = ReasonPhrase(status);
            }
        }

        if (operation.Responses.TryGetValue("429", out var tooMany) && tooMany is OpenApiResponse limited)
        {
            DescribeTooManyRequests(limited, metadata.OfType<ModelBudgetContract>().Any());
        }
    }

    /// <summary>Every 429 says when to retry: the per-client limiter, a session's rate, sign-in attempts, the model budgets.</summary>
    private static void DescribeTooManyRequests(OpenApiResponse response, bool modelBudgets)
    {
        response.Headers ??= new Dictionary<string, IOpenApiHeader>();
        response.Headers["Retry-After"] = new OpenApiHeader
        {
            Description = "Seconds until a request is admitted again (for a model budget: until it has refilled enough).",
            Required = true,
            Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "1" },
        };
        if (modelBudgets)
        {
            response.Description = "Too Many Requests: over the client's request rate (Security:ClientRequestsPerSecond), the session's " +
                "(Sessions:RequestsPerSecond), or a model budget of the client address or the session, in requests or tokens per window " +
                "(Query:Budgets). Budgets are decided before the model is called, so a refused request spends nothing.";
        }
    }

    private static void DescribeParameter(OpenApiParameter parameter, OpenApiSchema schema, string? path, WireLimits limits)
    {
        switch (parameter.Name)
        {
            case "after_seq":
                schema.Minimum = "0";
                parameter.Description ??= "Events with a sequence number greater than this (0: from the first).";
                break;
            case "limit" when path?.StartsWith("session/", StringComparison.Ordinal) == true:
                schema.Minimum = "1";
                schema.Maximum = limits.Gateway.MaxPageSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
                parameter.Description ??= "Events per page (default and most: Gateway:MaxPageSize).";
                break;
            case "sessionId":
                schema.Pattern = WireLimits.SessionIdPattern;
                parameter.Description ??= "The id answered by POST /session/start.";
                break;
            case "format":
                schema.Enum = [JsonValue.Create("jsonl"), JsonValue.Create("csv")];
                break;
            case "user_id" or "userId" or "experiment_id" or "experimentId" or "model_group" or "baseline":
                schema.MaxLength = limits.MaxFieldLength;
                break;

            // The planner's numbers (GET /analytics/plan): finite, in these ranges; a sample size that does not fit a
            // count (more than 2⁵³ − 1 units, or an underflow to zero) is a 400 naming 'mde' as well.
            case "mde":
                schema.ExclusiveMinimum = "0";
                parameter.Description ??= "The absolute change to detect (0.05 = 5 percentage points for a rate): finite, > 0.";
                break;
            case "power":
                (schema.ExclusiveMinimum, schema.ExclusiveMaximum) = ("0", "1");
                parameter.Description ??= "The probability of detecting the change: strictly between 0 and 1 (default 0.8).";
                break;
            case "alpha":
                (schema.Minimum, schema.ExclusiveMaximum) = (SessionTracking.Gateway.Analytics.AnalyticsEndpoints.MinAlpha.ToString("R", System.Globalization.CultureInfo.InvariantCulture), "0.5");
                parameter.Description ??= "The two-sided test's level: from 1e-10 up to (not including) 0.5 (default Analytics:Alpha).";
                break;
            case "baseline_rate":
                (schema.ExclusiveMinimum, schema.ExclusiveMaximum) = ("0", "1");
                parameter.Description ??= "The baseline proportion (two proportions): strictly between 0 and 1, and so is baseline_rate + mde.";
                break;
            case "baseline_sd":
                schema.ExclusiveMinimum = "0";
                parameter.Description ??= "The per-unit standard deviation (two means): finite, > 0.";
                break;
        }
    }

    private static async Task DescribeServerSentEventsAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, OpenApiDocument document, CancellationToken cancellationToken)
    {
        var events = new List<IOpenApiSchema>();
        foreach (var (name, type, description) in new[]
        {
            ("token", typeof(StreamToken), "A piece of the answer's text, as the model produced it."),
            ("done", typeof(StreamDone), "The last event of a completed answer, with its figures."),
            ("error", typeof(StreamError), "The last event when the provider failed mid-stream or the exchange could not be recorded."),
        })
        {
            var id = type.Name;
            document.Components!.Schemas ??= new Dictionary<string, IOpenApiSchema>();
            if (!document.Components.Schemas.ContainsKey(id))
            {
                document.Components.Schemas[id] = await context.GetOrCreateSchemaAsync(type, cancellationToken: cancellationToken);
            }

            events.Add(new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Description = description,
                Required = new HashSet<string> { "event", "data" },
                Properties = new Dictionary<string, IOpenApiSchema>
                {
                    ["event"] = new OpenApiSchema { Type = JsonSchemaType.String, Const = name },
                    ["data"] = new OpenApiSchemaReference(id, document),
                },
            });
        }

        operation.Responses!["200"] = new OpenApiResponse
        {
            Description = "Server-sent events: `token` events, then one `done` (or `error`). Each event's `data` is one JSON object.",
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["text/event-stream"] = new()
                {
                    Schema = new OpenApiSchema
                    {
                        Type = JsonSchemaType.Array,
                        Description = "The events of the stream, in order.",
                        Items = new OpenApiSchema { OneOf = events },
                    },
                },
            },
        };
    }

    private static async Task<IOpenApiSchema> ProblemSchemaAsync(OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var document = context.Document!;
        document.Components!.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        if (!document.Components.Schemas.ContainsKey(nameof(Microsoft.AspNetCore.Mvc.ProblemDetails)))
        {
            document.Components.Schemas[nameof(Microsoft.AspNetCore.Mvc.ProblemDetails)] =
                await context.GetOrCreateSchemaAsync(typeof(Microsoft.AspNetCore.Mvc.ProblemDetails), cancellationToken: cancellationToken);
        }

        return new OpenApiSchemaReference(nameof(Microsoft.AspNetCore.Mvc.ProblemDetails), document);
    }

    private static void AddProblem(OpenApiOperation operation, int status, IOpenApiSchema schema)
    {
        var key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (operation.Responses!.ContainsKey(key))
        {
            return;
        }

        operation.Responses[key] = new OpenApiResponse
        {
            Description = ReasonPhrase(key),
            Content = new Dictionary<string, OpenApiMediaType> { ["application/problem+json"] = new() { Schema = schema } },
        };
    }

    private static string ReasonPhrase(string status) =>
        int.TryParse(status, out var code) ? Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(code) : status;

    private static Task DescribeSchema(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        var type = context.JsonTypeInfo.Type;
        if (type == typeof(JsonObjectBody))
        {
            // Any JSON object: members of any type (the generator's default would allow no member at all).
            schema.AdditionalPropertiesAllowed = true;
            schema.AdditionalProperties = new OpenApiSchema();
        }
        else if (RequestTypes.Contains(type))
        {
            DescribeRequestLimits(schema, context.ApplicationServices.GetRequiredService<WireLimits>());
        }
        else if (type.Namespace?.StartsWith("SessionTracking", StringComparison.Ordinal) == true && schema.Properties is { Count: > 0 } properties)
        {
            // Answers always carry every field (null when there is no value) except those written only when set.
            schema.Required ??= new HashSet<string>();
            var omittedWhenNull = type.GetProperties()
                .Where(p => p.IsDefined(typeof(JsonIgnoreAttribute), inherit: true))
                .Select(p => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name))
                .ToHashSet();
            foreach (var property in context.JsonTypeInfo.Properties.Where(p => properties.ContainsKey(p.Name)))
            {
                if (omittedWhenNull.Contains(property.Name))
                {
                    schema.Required.Remove(property.Name);
                }
                else
                {
                    schema.Required.Add(property.Name);
                }
            }
        }

        return Task.CompletedTask;
    }

    private static void DescribeRequestLimits(OpenApiSchema schema, WireLimits limits)
    {
        foreach (var (name, property) in schema.Properties ?? new Dictionary<string, IOpenApiSchema>())
        {
            if (property is not OpenApiSchema p)
            {
                continue;
            }

            switch (name)
            {
                case "user_id" or "model_group" or "experiment_id" or "id":
                    p.MaxLength = limits.MaxFieldLength;
                    p.MinLength = 1;
                    break;
                case "type" or "event_type":
                    p.MaxLength = WireLimits.EventTypeMaxLength;
                    p.Pattern = WireLimits.EventTypePattern;
                    break;
                case "session_id":
                    p.Pattern = WireLimits.SessionIdPattern;
                    break;
                case "prompt" or "query":
                    p.MaxLength = limits.MaxPromptLength;
                    p.MinLength = 1;
                    break;
                case "events":
                    p.MaxItems = limits.Gateway.MaxEventsPerBatch;
                    break;
                case "t" or "sent_at":
                    p.Minimum = "0";
                    p.Maximum = WireLimits.MaxClientTime.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    break;
            }
        }
    }
}

/// <summary>Marks an endpoint whose 200 answer is server-sent events.</summary>
internal sealed class ServerSentEventsContract;

/// <summary>Marks an endpoint that spends the model budgets (/query, /query/stream).</summary>
internal sealed class ModelBudgetContract
{
    public static readonly ModelBudgetContract Instance = new();
}

/// <summary>Marks an endpoint whose 200 answer is a file in one of <see cref="MediaTypes"/>.</summary>
internal sealed record FileContract(string[] MediaTypes);

/// <summary>Marks an endpoint that needs the operator key when one is configured.</summary>
internal sealed class OperatorKeyRequired
{
    public static readonly OperatorKeyRequired Instance = new();
}

/// <summary>A query parameter the endpoint reads itself (so that the framework does not know it).</summary>
internal sealed record QueryParameter(string Name, string Description, JsonSchemaType Type, string? Format = null, int? Minimum = null, int? Maximum = null, int? MaxLength = null)
{
    public OpenApiParameter ToOpenApi() => new()
    {
        Name = Name,
        In = ParameterLocation.Query,
        Description = Description,
        Schema = new OpenApiSchema
        {
            Type = Type,
            Format = Format,
            Minimum = Minimum?.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Maximum = Maximum?.ToString(System.Globalization.CultureInfo.InvariantCulture),
            MaxLength = MaxLength,
        },
    };
}
