using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Coordination.Tests.Http;

/// <summary>
/// A scheme like the ones users write for API keys: <c>X-Api-Key: alice</c> signs in a user whose only claim is of
/// <see cref="ApiKeyOptions.ClaimType"/>; no <c>Authorization</c> or <c>Cookie</c> header is involved.
/// </summary>
internal sealed class ApiKeyAuthentication(IOptionsMonitor<ApiKeyOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<ApiKeyOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";

    public static void Add(IServiceCollection services, string claimType) =>
        services.AddAuthentication(SchemeName).AddScheme<ApiKeyOptions, ApiKeyAuthentication>(SchemeName, o => o.ClaimType = claimType);

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (Request.Headers["X-Api-Key"].ToString() is not { Length: > 0 } user)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var identity = new ClaimsIdentity([new Claim(Options.ClaimType, user)], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }
}

internal sealed class ApiKeyOptions : AuthenticationSchemeOptions
{
    public string ClaimType { get; set; } = ClaimTypes.NameIdentifier;
}
