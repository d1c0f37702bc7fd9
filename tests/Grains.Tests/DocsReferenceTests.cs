using System.Text.RegularExpressions;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

/// <summary>
/// README and docs/ name only things that exist: every repository path in backticks is a tracked file or folder (a type
/// name without <c>.cs</c> counts), and every setting in backticks (<c>Section:Key</c>) is a property of the options
/// class bound at that section, or a key the product code reads by name. Read from the sources, so that a renamed
/// option or a deleted file fails here instead of misleading a reader.
/// </summary>
[TestCategory("BVT")]
public sealed partial class DocsReferenceTests
{
    // Framework sections the product binds as a whole (Orleans' own options) or that ASP.NET Core reads.
    private static readonly string[] FrameworkRoots = ["Orleans", "Logging", "Kestrel"];

    private static readonly string[] ProductFolders = ["Gateway", "Grains", "Grains.Interfaces", "Shared", "Silo", "Silo.Hosting", "Storage.Sqlite", "Storage.Mongo"];

    [Fact]
    public void Every_path_in_the_docs_exists()
    {
        var tracked = TrackedPaths();
        Assert.Contains("README.md", tracked); // the scan sees the tree

        var missing = Mentions(PathInBackticks())
            .Where(m => !IsExternal(m.Text) && !Resolves(m.Text, tracked))
            .Select(m => $"{m.File}: `{m.Text}`")
            .ToList();
        Assert.True(missing.Count == 0, "Paths named in the docs that the repository does not have:\n" + string.Join("\n", missing));
    }

    [Fact]
    public void Every_setting_in_the_docs_is_read_by_the_product()
    {
        var model = OptionsModel.Read(ProductFolders.Select(f => Path.Combine(RepoPaths.Root, f)));
        Assert.True(model.Resolves("Storage:Sqlite:DatabasePath")); // the model sees the options classes
        Assert.False(model.Resolves("Storage:Sqlite:DatabasePaths"));

        var unknown = Mentions(SettingInBackticks())
            .Where(m => !model.Resolves(m.Text))
            .Select(m => $"{m.File}: `{m.Text}`")
            .Distinct()
            .ToList();
        Assert.True(unknown.Count == 0, "Settings named in the docs that no options class or configuration read has:\n" + string.Join("\n", unknown));
    }

    private static IEnumerable<(string File, string Text)> Mentions(Regex pattern) =>
        Directory.GetFiles(Path.Combine(RepoPaths.Root, "docs"), "*.md").Append(Path.Combine(RepoPaths.Root, "README.md"))
            .SelectMany(file => pattern.Matches(File.ReadAllText(file)).Select(m => (Path.GetRelativePath(RepoPaths.Root, file), m.Groups[1].Value)));

    /// <summary>Outside the repository (the product guide beside it), a media type, a host name, a file made at run time.</summary>
    private static bool IsExternal(string path) =>
        path.StartsWith("../", StringComparison.Ordinal)
        || path.StartsWith("application/", StringComparison.Ordinal)
        || path.StartsWith("text/", StringComparison.Ordinal)
        || HostLike().IsMatch(path)
        || path.EndsWith(".db", StringComparison.Ordinal);

    private static bool Resolves(string path, HashSet<string> tracked)
    {
        var relative = path.StartsWith("./", StringComparison.Ordinal) ? path[2..] : path;
        return new[] { relative, relative + ".cs" }.Any(candidate =>
            tracked.Contains(candidate) || tracked.Any(t => t.EndsWith("/" + candidate, StringComparison.Ordinal)));
    }

    /// <summary>Files and folders of the tree, relative, with '/' (bin, obj and node_modules left out).</summary>
    private static HashSet<string> TrackedPaths()
    {
        var paths = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(RepoPaths.Root, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(RepoPaths.Root, file).Replace('\\', '/');
            if (relative.Split('/').Any(part => part is "bin" or "obj" or "node_modules" or ".git"))
            {
                continue;
            }

            var parts = relative.Split('/');
            for (var i = 1; i <= parts.Length; i++)
            {
                paths.Add(string.Join('/', parts[..i]));
            }
        }

        return paths;
    }

    // Relative paths only: `/session/start` is an endpoint, `/usr/bin/chromium` the machine's.
    [GeneratedRegex(@"`((?:\.{1,2}/)?(?:[A-Za-z0-9_.-]+/)+[A-Za-z0-9_.*-]+)`")]
    private static partial Regex PathInBackticks();

    [GeneratedRegex(@"`([A-Z][A-Za-z]+(?::[A-Za-z0-9_<>*.-]+)+)(?:[ =][^`]*)?`")]
    private static partial Regex SettingInBackticks();

    [GeneratedRegex(@"^[a-z0-9-]+\.[a-z]{2,}/")]
    private static partial Regex HostLike();

    /// <summary>
    /// The configuration the product reads, from its sources: classes with <c>SectionName</c> and their public settable
    /// properties (nested option classes, dictionaries and lists followed), and keys read by name ("Storage:Provider").
    /// </summary>
    private sealed partial class OptionsModel
    {
        private readonly Dictionary<string, Dictionary<string, string>> _classes = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _sections = new(StringComparer.OrdinalIgnoreCase);
        private readonly HashSet<string> _literals = new(StringComparer.OrdinalIgnoreCase);

        public static OptionsModel Read(IEnumerable<string> folders)
        {
            var model = new OptionsModel();
            foreach (var file in folders.SelectMany(f => Directory.EnumerateFiles(f, "*.cs", SearchOption.AllDirectories)))
            {
                if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                    || file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
                {
                    continue;
                }

                var source = File.ReadAllText(file);
                foreach (Match type in TypeDeclaration().Matches(source))
                {
                    var body = source[type.Index..NextTypeOrEnd(source, type.Index + type.Length)];
                    var properties = model._classes.TryGetValue(type.Groups[1].Value, out var known) ? known : model._classes[type.Groups[1].Value] = new(StringComparer.OrdinalIgnoreCase);
                    foreach (Match property in Property().Matches(body))
                    {
                        properties[property.Groups[2].Value] = property.Groups[1].Value;
                    }

                    if (SectionName().Match(body) is { Success: true } section)
                    {
                        model._sections[section.Groups[1].Value] = type.Groups[1].Value;
                    }
                }

                foreach (Match literal in SettingLiteral().Matches(source))
                {
                    model._literals.Add(literal.Groups[1].Value);
                }
            }

            return model;
        }

        public bool Resolves(string setting)
        {
            var segments = setting.Split(':');
            if (FrameworkRoots.Contains(segments[0], StringComparer.Ordinal)
                || _literals.Contains(setting)
                || _literals.Any(l => setting.EndsWith(":*", StringComparison.Ordinal) && l.StartsWith(setting[..^1], StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }

            foreach (var (section, type) in _sections.OrderByDescending(s => s.Key.Length))
            {
                var prefix = section.Split(':');
                if (segments.Length >= prefix.Length && segments.Take(prefix.Length).SequenceEqual(prefix, StringComparer.OrdinalIgnoreCase))
                {
                    return Walk(type, segments[prefix.Length..]);
                }
            }

            // A setting named relative to its section (a table of one section's keys): the property path of some options class.
            return _classes.Keys.Any(type => _classes[type].ContainsKey(segments[0]) && Walk(type, segments));
        }

        private bool Walk(string type, string[] rest)
        {
            if (rest.Length == 0 || rest[0] == "*")
            {
                return true;
            }

            if (rest is [['<', ..]] && _classes.ContainsKey(type.TrimEnd('?')))
            {
                return true; // `Section:<Setting>`: any key of the class, the table beside it names them
            }

            var collection = CollectionOf().Match(type);
            if (collection.Success)
            {
                // Dictionary<string, T>, List<T>, IList<T>, T[]: the next segment is a key or an index (or a placeholder).
                return Walk(collection.Groups["item"].Value, rest[1..]);
            }

            return _classes.TryGetValue(type.TrimEnd('?'), out var properties)
                && properties.TryGetValue(rest[0], out var propertyType)
                && (rest.Length == 1 || Walk(propertyType.TrimEnd('?'), rest[1..]));
        }

        private static int NextTypeOrEnd(string source, int from)
        {
            var next = TypeDeclaration().Match(source, from);
            return next.Success ? next.Index : source.Length;
        }

        [GeneratedRegex(@"\b(?:class|record)\s+([A-Z][A-Za-z0-9]*)")]
        private static partial Regex TypeDeclaration();

        [GeneratedRegex(@"public\s+(?:required\s+)?([A-Za-z0-9_<>,\[\]? ]+?)\s+([A-Z][A-Za-z0-9]*)\s*\{\s*get;\s*(?:set|init);")]
        private static partial Regex Property();

        [GeneratedRegex(@"const\s+string\s+SectionName\s*=\s*""([^""]+)""")]
        private static partial Regex SectionName();

        [GeneratedRegex(@"""([A-Z][A-Za-z]+(?::[A-Z][A-Za-z0-9]*)+)""")]
        private static partial Regex SettingLiteral();

        [GeneratedRegex(@"^(?:(?:I?Dictionary|IReadOnlyDictionary)<\s*string\s*,\s*(?<item>.+)>|(?:List|IList|IReadOnlyList)<(?<item>.+)>|(?<item>.+)\[\])\??$")]
        private static partial Regex CollectionOf();
    }
}
