using System.Text.Json;

// The machine's own limit: bare Kestrel that parses the same event JSON and echoes it. No grain, no store.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
var app = builder.Build();
app.MapPost("/session/event", async (HttpRequest request) =>
{
    using var document = await JsonDocument.ParseAsync(request.Body);
    return Results.Text(document.RootElement.GetRawText(), "application/json");
});
app.Run();
