using System.ClientModel;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using OpenAI;

namespace SessionTracking.Gateway.Query;

internal static class ChatClientRegistration
{
    /// <summary>Registers the <see cref="IChatClient"/> that /query calls, chosen by <c>Query:Provider</c>, and its budgets.</summary>
    public static IServiceCollection AddQueryChatClient(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<QueryOptions>()
            .Bind(configuration.GetSection(QueryOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddOptions<QueryBudgetOptions>()
            .Bind(configuration.GetSection(QueryBudgetOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<ModelBudgets>();
        services.AddChatClient(sp =>
        {
            var options = sp.GetRequiredService<IOptions<QueryOptions>>().Value;
            if (!options.Provider.Equals("OpenAI", StringComparison.OrdinalIgnoreCase))
            {
                return new OfflineChatClient(TimeSpan.FromMilliseconds(options.OfflineTokenDelayMs), sp.GetRequiredService<TimeProvider>());
            }

            var clientOptions = new OpenAIClientOptions();
            if (options.Endpoint is not null)
            {
                clientOptions.Endpoint = options.Endpoint;
            }

            return new OpenAIClient(new ApiKeyCredential(options.ApiKey!), clientOptions)
                .GetChatClient(options.Model)
                .AsIChatClient();
        });
        return services;
    }
}
