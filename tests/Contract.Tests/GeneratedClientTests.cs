using SessionTracking.TestSupport;

namespace SessionTracking.Contract.Tests;

/// <summary>
/// The served document is usable by third-party tools: a TypeScript client generated from it (openapi-typescript +
/// openapi-fetch, clients/typescript) compiles under <c>tsc --strict</c> and works against the running gateway, and
/// Redocly's recommended rules and Spectral's <c>spectral:oas</c> report no error.
/// </summary>
[TestCategory("SlowBVT")]
[Collection(ContractCollection.Name)]
public sealed class GeneratedClientTests(ContractGateway gateway)
{
    [Fact]
    public async Task A_client_generated_from_the_document_compiles_strictly_and_works_against_the_service()
    {
        var directory = NodeTools.ClientDirectory;
        var schema = Path.Combine(directory, "src", "schema.d.ts");
        File.Delete(schema);

        var generated = await NodeTools.RunAsync("openapi-typescript", directory, new Uri(gateway.BaseAddress, "/openapi/v1.json").ToString(), "-o", schema);
        Assert.True(generated.ExitCode == 0, generated.Output);
        Assert.Contains("\"/session/{sessionId}\"", await File.ReadAllTextAsync(schema));

        var compiled = await NodeTools.RunAsync("tsc", directory, "-p", "tsconfig.json", "--strict");
        Assert.True(compiled.ExitCode == 0, "tsc --strict:\n" + compiled.Output);

        var smoke = await NodeTools.RunProcessAsync("node", directory, Path.Combine("dist", "test", "smoke.js"), gateway.BaseAddress.ToString().TrimEnd('/'), ContractGateway.OperatorKey);
        Assert.True(smoke.ExitCode == 0, "client run:\n" + smoke.Output);
        Assert.Contains("checks passed", smoke.Output);
    }

    [Fact]
    public async Task Redocly_recommended_rules_report_no_error()
    {
        var file = await WriteDocumentAsync();
        try
        {
            var lint = await NodeTools.RunAsync("redocly", NodeTools.ClientDirectory, "lint", "--extends", "recommended", "--format", "stylish", file);
            Assert.True(lint.ExitCode == 0, "redocly lint:\n" + lint.Output);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Spectral_oas_rules_report_no_error()
    {
        var file = await WriteDocumentAsync();
        try
        {
            var lint = await NodeTools.RunAsync("spectral", NodeTools.ClientDirectory, "lint", "--ruleset", ".spectral.yaml", "--fail-severity", "error", file);
            Assert.True(lint.ExitCode == 0, "spectral lint:\n" + lint.Output);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private async Task<string> WriteDocumentAsync()
    {
        var file = Path.Combine(Path.GetTempPath(), $"openapi-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, gateway.DocumentJson);
        return file;
    }
}
