using SessionTracking.TestSupport;

namespace SessionTracking.Contract.Tests;

/// <summary>
/// The tracker as an npm package (the repository's package.json): types for each export condition, checked the way a
/// consumer's tools see them. React hooks are an ES module only, so a CommonJS <c>require</c> of <c>/react</c> is
/// reported by attw as needing a dynamic import (ignored here), and node10 resolution has no subpath exports.
/// </summary>
[TestCategory("SlowBVT")]
public sealed class TrackerPackageTests
{
    [Fact]
    public async Task Are_the_types_wrong_finds_nothing_for_node16_consumers()
    {
        var result = await NodeTools.RunAsync("attw", RepoPaths.Root, "--pack", ".", "--profile", "node16", "--ignore-rules", "cjs-resolves-to-esm", "--format", "ascii");
        Assert.True(result.ExitCode == 0, "attw:\n" + result.Output);
    }

    [Fact]
    public async Task Publint_finds_no_error_or_warning()
    {
        var result = await NodeTools.RunAsync("publint", RepoPaths.Root, "--strict");
        Assert.True(result.ExitCode == 0, "publint:\n" + result.Output);
    }

    [Fact]
    public async Task The_license_file_matches_package_json()
    {
        var package = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, "package.json"))).RootElement;
        var license = await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, "LICENSE"));

        Assert.Equal("MIT", package.GetProperty("license").GetString());
        Assert.StartsWith("MIT License", license, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_esm_typescript_project_with_nodenext_resolution_type_checks_against_the_package()
    {
        var project = RepoPaths.NewTempDirectory("tracker-consumer");
        try
        {
            Directory.CreateDirectory(Path.Combine(project, "node_modules"));
            Directory.CreateSymbolicLink(Path.Combine(project, "node_modules", "orleans-session-tracking"), RepoPaths.Root);
            await File.WriteAllTextAsync(Path.Combine(project, "package.json"), """{ "name": "consumer", "private": true, "type": "module" }""");
            await File.WriteAllTextAsync(Path.Combine(project, "tsconfig.json"), """
                {
                  "compilerOptions": {
                    "module": "nodenext", "moduleResolution": "nodenext", "target": "ES2022", "lib": ["ES2022", "DOM"],
                    "strict": true, "noEmit": true, "skipLibCheck": false, "types": []
                  },
                  "files": ["main.ts", "hooks.ts", "legacy.cts"]
                }
                """);
            await File.WriteAllTextAsync(Path.Combine(project, "main.ts"), """
                import SessionTracker, { SessionTracker as Named, type StartOptions, type Tracker } from 'orleans-session-tracking';

                const options: StartOptions = { userId: 'user123', modelGroup: 'gpt-4', experimentId: 'experiment_v1' };
                export const started: Promise<Tracker> = SessionTracker.start(options);
                export const same: boolean = Named === globalThis.SessionTracker;
                """);
            await File.WriteAllTextAsync(Path.Combine(project, "hooks.ts"), """
                import { useEventTracking, useSession } from 'orleans-session-tracking/react';

                export function useFeedback(): (up: boolean) => boolean {
                  const sessionId: string | null = useSession({ userId: 'user123', modelGroup: 'gpt-4' });
                  const { logEvent } = useEventTracking({ sessionId, trackScroll: true });
                  return (up) => logEvent('feedback', { feedback: up ? 'up' : 'down' });
                }
                """);
            await File.WriteAllTextAsync(Path.Combine(project, "legacy.cts"), """
                import tracker = require('orleans-session-tracking');

                export const version: string = tracker.SessionTracker.version;
                """);

            var result = await NodeTools.RunProcessAsync(Path.Combine(RepoPaths.Root, "node_modules", ".bin", "tsc"), project, "-p", "tsconfig.json");
            Assert.True(result.ExitCode == 0, "tsc (nodenext):\n" + result.Output);
        }
        finally
        {
            Directory.Delete(project, recursive: true);
        }
    }
}
