using System.Text.RegularExpressions;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;
using YamlDotNet.RepresentationModel;

namespace SessionTracking.Cluster.Tests;

/// <summary>No Docker engine runs here: validate what can be validated without one.</summary>
[TestCategory("BVT")]
public sealed partial class DeployFilesTests
{
    private static readonly string Deploy = Path.Combine(RepoPaths.Root, "deploy");

    [Fact]
    public void Compose_file_parses_and_has_the_documented_topology()
    {
        var services = (YamlMappingNode)Load("docker-compose.yml")[0]["services"];

        Assert.Equal(["entry", "gateway1", "gateway2", "mongo", "redis", "silo1", "silo2"], services.Children.Keys.Select(k => k.ToString()).Order());
        foreach (var silo in new[] { "silo1", "silo2" })
        {
            var environment = (YamlMappingNode)services[silo]["environment"];
            Assert.Equal("Mongo", environment["Storage__Provider"].ToString());
            Assert.Equal(silo, environment["Cluster__AdvertisedHost"].ToString());
        }

        foreach (var gateway in new[] { "gateway1", "gateway2" })
        {
            var environment = (YamlMappingNode)services[gateway]["environment"];
            Assert.Equal("Client", Merged(environment, "Orleans__Mode")?.ToString());
            Assert.StartsWith("${OPERATOR_API_KEY", Merged(environment, "Security__OperatorApiKey")?.ToString(), StringComparison.Ordinal);
        }

        var nginx = File.ReadAllText(Path.Combine(Deploy, "nginx.conf"));
        Assert.Contains("gateway1:8080", nginx, StringComparison.Ordinal);
        Assert.Contains("gateway2:8080", nginx, StringComparison.Ordinal);
    }

    [Fact]
    public void Kubernetes_manifests_parse_and_wire_kubernetes_hosting()
    {
        var documents = Directory.GetFiles(Path.Combine(Deploy, "kubernetes"), "*.yaml").SelectMany(Load).ToList();
        var kinds = documents.Select(d => $"{d["kind"]}/{d["metadata"]["name"]}").ToList();

        Assert.All(documents, d => Assert.False(string.IsNullOrEmpty(d["apiVersion"].ToString())));
        Assert.Contains("Deployment/session-tracking-silo", kinds);
        Assert.Contains("Deployment/session-tracking-gateway", kinds);
        Assert.Contains("Role/orleans-pod-reader", kinds);
        var silo = documents.Single(d => $"{d["kind"]}/{d["metadata"]["name"]}" == "Deployment/session-tracking-silo");
        var container = (YamlMappingNode)((YamlSequenceNode)silo["spec"]["template"]["spec"]["containers"])[0];
        var env = ((YamlSequenceNode)container["env"]).Cast<YamlMappingNode>().Select(e => e["name"].ToString()).ToList();
        Assert.Contains("Cluster__Kubernetes", env);
        Assert.All(["POD_NAME", "POD_NAMESPACE", "POD_IP", "ORLEANS_SERVICE_ID", "ORLEANS_CLUSTER_ID"], name => Assert.Contains(name, env));
        var labels = (YamlMappingNode)silo["spec"]["template"]["metadata"]["labels"];
        Assert.Equal("session-tracking", labels["orleans/serviceId"].ToString());
    }

    [Fact]
    public void Every_setting_the_deploy_files_set_is_a_real_setting()
    {
        var text = string.Concat(new[] { "docker-compose.yml", "Dockerfile.silo", "Dockerfile.gateway" }.Select(f => File.ReadAllText(Path.Combine(Deploy, f))))
                   + string.Concat(Directory.GetFiles(Path.Combine(Deploy, "kubernetes"), "*.yaml").Select(File.ReadAllText));
        var known = new Dictionary<string, Type>
        {
            ["Cluster"] = typeof(ClusterSettings),
            ["Sessions"] = typeof(SessionOptions),
            ["Storage__Sqlite"] = typeof(SqliteStoreOptions),
        };

        foreach (Match match in SettingRegex().Matches(text))
        {
            var (section, key) = (match.Groups[1].Value, match.Groups[2].Value);
            if (known.TryGetValue(section, out var type))
            {
                Assert.True(type.GetProperty(key) is not null, $"{section}__{key} is not a property of {type.Name}");
            }
        }

        Assert.Matches(SettingRegex(), text);
    }

    [Theory]
    [InlineData("Dockerfile.silo", "SessionTracking.Silo.dll", "Silo/Silo.csproj")]
    [InlineData("Dockerfile.gateway", "SessionTracking.Gateway.dll", "Gateway/Gateway.csproj")]
    public void Dockerfiles_are_multi_stage_non_root_and_run_the_built_assembly(string file, string dll, string project)
    {
        var lines = File.ReadAllLines(Path.Combine(Deploy, file));

        Assert.Equal(2, lines.Count(l => l.StartsWith("FROM ", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.StartsWith("USER ", StringComparison.Ordinal) && !l.Contains("root", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains($"dotnet publish {project}", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("ENTRYPOINT", StringComparison.Ordinal) && l.Contains(dll, StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(RepoPaths.Root, project)));
    }

    [Fact]
    public void Every_kubernetes_workload_has_probes_requests_limits_and_a_pinned_image()
    {
        var workloads = Directory.GetFiles(Path.Combine(Deploy, "kubernetes"), "*.yaml").SelectMany(Load)
            .Where(d => d["kind"].ToString() is "Deployment" or "StatefulSet" or "DaemonSet")
            .ToList();

        Assert.Equal(["Deployment/redis", "Deployment/session-tracking-gateway", "Deployment/session-tracking-silo"], workloads.Select(w => $"{w["kind"]}/{w["metadata"]["name"]}").Order());
        foreach (var workload in workloads)
        {
            foreach (var container in ((YamlSequenceNode)workload["spec"]["template"]["spec"]["containers"]).Cast<YamlMappingNode>())
            {
                var name = $"{workload["metadata"]["name"]}/{container["name"]}";
                Assert.Matches(PinnedImageRegex(), container["image"].ToString());
                Assert.True(Has(container, "livenessProbe") && Has(container, "readinessProbe"), $"{name} lacks a liveness or readiness probe");
                foreach (var kind in new[] { "requests", "limits" })
                {
                    var resources = (YamlMappingNode)((YamlMappingNode)container["resources"])[kind];
                    Assert.True(Has(resources, "cpu") && Has(resources, "memory"), $"{name} lacks {kind} for cpu and memory");
                }
            }
        }

        // The silo's probes reach its health endpoints: the probed port is the one Health__Port opens.
        var silo = (YamlMappingNode)((YamlSequenceNode)workloads.Single(w => w["metadata"]["name"].ToString() == "session-tracking-silo")["spec"]["template"]["spec"]["containers"])[0];
        var healthPort = ((YamlSequenceNode)silo["ports"]).Cast<YamlMappingNode>().Single(p => p["name"].ToString() == "health")["containerPort"].ToString();
        var env = ((YamlSequenceNode)silo["env"]).Cast<YamlMappingNode>().Where(e => Has(e, "value")).ToDictionary(e => e["name"].ToString(), e => e["value"].ToString());
        Assert.Equal(healthPort, env["Health__Port"]);
        Assert.Equal("*", env["Health__Host"]);
        Assert.Equal(("/healthz", "health"), (silo["livenessProbe"]["httpGet"]["path"].ToString(), silo["livenessProbe"]["httpGet"]["port"].ToString()));
        Assert.Equal(("/readyz", "health"), (silo["readinessProbe"]["httpGet"]["path"].ToString(), silo["readinessProbe"]["httpGet"]["port"].ToString()));
    }

    [Fact]
    public void Compose_services_have_health_checks_wait_for_healthy_dependencies_and_use_pinned_images()
    {
        var services = (YamlMappingNode)Load("docker-compose.yml")[0]["services"];

        foreach (var (key, value) in services.Children)
        {
            var service = (YamlMappingNode)value;
            Assert.True(Merged(service, "healthcheck") is YamlMappingNode, $"{key} has no health check");
            Assert.Matches(PinnedImageRegex(), Merged(service, "image")!.ToString());
            if (Merged(service, "depends_on") is { } dependsOn)
            {
                var conditions = Assert.IsType<YamlMappingNode>(dependsOn);
                Assert.All(conditions.Children, d => Assert.Equal("service_healthy", d.Value["condition"].ToString()));
            }
        }

        Assert.Equal(["gateway1", "gateway2"], services.Children.Where(s => Merged((YamlMappingNode)s.Value, "depends_on") is YamlMappingNode d && d.Children.ContainsKey("silo1")).Select(s => s.Key.ToString()).Order());
        foreach (var gateway in new[] { "gateway1", "gateway2" })
        {
            var environment = (YamlMappingNode)services[gateway]["environment"];
            Assert.Equal("true", Merged(environment, "Security__TrustForwardedFor")?.ToString());
        }
    }

    [Fact]
    public void The_entry_proxy_answers_its_own_errors_as_problem_json_and_overwrites_the_forwarded_address()
    {
        var nginx = File.ReadAllText(Path.Combine(Deploy, "nginx.conf"));

        Assert.Contains("proxy_set_header X-Forwarded-For $remote_addr;", nginx, StringComparison.Ordinal);
        foreach (var status in new[] { 413, 400, 502, 503, 504 })
        {
            var page = Assert.Single(ErrorPageRegex().Matches(nginx), m => m.Groups["codes"].Value.Split(' ').Contains(status.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            var location = Regex.Match(nginx, $@"location {Regex.Escape(page.Groups["target"].Value)} \{{(?<body>.*?)\n    \}}", RegexOptions.Singleline);
            Assert.True(location.Success, $"no location {page.Groups["target"].Value}");
            Assert.Contains("default_type application/problem+json;", location.Groups["body"].Value, StringComparison.Ordinal);
            var answer = Regex.Match(location.Groups["body"].Value, @"return (?<status>\d{3}) '(?<json>[^']*)';");
            using var problem = System.Text.Json.JsonDocument.Parse(answer.Groups["json"].Value);
            Assert.Equal(answer.Groups["status"].Value, problem.RootElement.GetProperty("status").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.False(string.IsNullOrEmpty(problem.RootElement.GetProperty("title").GetString()));
            Assert.False(string.IsNullOrEmpty(problem.RootElement.GetProperty("detail").GetString()));
        }
    }

    [Fact]
    public void The_docker_build_context_leaves_out_build_outputs_dependencies_and_history()
    {
        var ignored = File.ReadAllLines(Path.Combine(RepoPaths.Root, ".dockerignore")).Select(l => l.Trim()).ToHashSet();

        Assert.Superset(new HashSet<string> { ".git", "**/bin/", "**/obj/", "**/node_modules/", "**/*.db" }, ignored);
        Assert.All(new[] { "Dockerfile.silo", "Dockerfile.gateway" }, file => Assert.Contains("COPY . .", File.ReadAllText(Path.Combine(Deploy, file)), StringComparison.Ordinal));
    }

    private static bool Has(YamlMappingNode node, string key) => node.Children.ContainsKey(key);

    /// <summary>A key of a compose mapping, also through YAML merge keys (<c>&lt;&lt;: *anchor</c>).</summary>
    private static YamlNode? Merged(YamlMappingNode node, string key)
    {
        if (node.Children.TryGetValue(key, out var value))
        {
            return value;
        }

        return node.Children.TryGetValue("<<", out var merged) && merged is YamlMappingNode parent ? Merged(parent, key) : null;
    }

    private static List<YamlNode> Load(string relativePath)
    {
        var stream = new YamlStream();
        using var reader = new StringReader(File.ReadAllText(Path.Combine(Deploy, relativePath)));
        stream.Load(reader);
        return stream.Documents.Select(d => d.RootNode).ToList();
    }

    [GeneratedRegex(@"\b(Cluster|Sessions|Storage__Sqlite)__([A-Za-z]+)\b")]
    private static partial Regex SettingRegex();

    /// <summary>A release tag (x.y or x.y.z), not <c>latest</c> nor a bare major version that moves.</summary>
    [GeneratedRegex(@"^[a-z0-9./-]+:\d+\.\d+(\.\d+)?$")]
    private static partial Regex PinnedImageRegex();

    [GeneratedRegex(@"error_page (?<codes>[\d ]+) (?<target>@[a-z_]+);")]
    private static partial Regex ErrorPageRegex();
}
