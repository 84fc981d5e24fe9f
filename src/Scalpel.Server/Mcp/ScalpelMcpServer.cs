using System.Reflection;
using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Scalpel.Server.Mcp;

/// <summary><c>scalpel mcp</c>: the tools of <see cref="ScalpelTools"/> over MCP's stdio transport (stdin/stdout carry JSON-RPC only).</summary>
public static class ScalpelMcpServer
{
    /// <summary>
    /// Outputs in snake_case, like the inputs and like the CLI's --json; nulls written, since the output schema
    /// generated from the records marks every property required and clients validate against it.
    /// </summary>
    internal static readonly JsonSerializerOptions OutputJson = new(McpJsonUtilities.DefaultOptions)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.Never,
    };

    public static McpServerOptions Options(McpRoots roots, McpRuns runs)
    {
        var tools = new ScalpelTools(roots, runs);
        var create = new McpServerToolCreateOptions { SerializerOptions = OutputJson };
        var collection = new McpServerPrimitiveCollection<McpServerTool>();
        foreach (var method in typeof(ScalpelTools).GetMethods(BindingFlags.Public | BindingFlags.Instance))
            if (method.GetCustomAttribute<McpServerToolAttribute>() is not null)
                collection.Add(new CliMessageErrors(McpServerTool.Create(method, tools, create)));
        var resources = new ScalpelResources(roots, runs);
        var resourceCollection = new McpServerResourceCollection();
        foreach (var method in typeof(ScalpelResources).GetMethods(BindingFlags.Public | BindingFlags.Instance))
            if (method.GetCustomAttribute<McpServerResourceAttribute>() is not null)
                resourceCollection.Add(McpServerResource.Create(method, resources));
        return new McpServerOptions
        {
            ServerInfo = new Implementation { Name = "scalpel", Version = typeof(ScalpelMcpServer).Assembly.GetName().Version?.ToString() ?? "0" },
            ServerInstructions = "Scalpel fine-tunes Llama-family models. Paths must lie under the server's roots: " + string.Join(", ", roots.Folders) +
                                 ". Check data first, measure prompting baselines with compare before training, and train only when baselines fall short.",
            ToolCollection = collection,
            ResourceCollection = resourceCollection,
            Handlers = new McpServerHandlers
            {
                // The collection lists only templates; the reports and metrics that exist now are listed here.
                ListResourcesHandler = (_, _) => ValueTask.FromResult(new ListResourcesResult { Resources = resources.Listed().ToList() }),
            },
        };
    }

    public static async Task RunStdioAsync(McpRoots roots, McpRuns runs, CancellationToken cancellationToken)
    {
        await using var server = McpServer.Create(new StdioServerTransport("scalpel"), Options(roots, runs));
        await server.RunAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The SDK reports a tool's McpException as "An error occurred invoking 'NAME': MESSAGE"; an agent should see the
    /// message the CLI prints, so refusals (the only McpExceptions ScalpelTools.Guard throws) become the error result here.
    /// </summary>
    private sealed class CliMessageErrors(McpServerTool inner) : DelegatingMcpServerTool(inner)
    {
        public override async ValueTask<CallToolResult> InvokeAsync(RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken = default)
        {
            try { return await base.InvokeAsync(request, cancellationToken).ConfigureAwait(false); }
            catch (McpException e) when (e is not McpProtocolException)
            {
                return new CallToolResult { IsError = true, Content = [new TextContentBlock { Text = e.Message }] };
            }
        }
    }
}
