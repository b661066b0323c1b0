namespace Coordination.Tests.Http;

internal static class HttpClientTestExtensions
{
    /// <summary>Sends a GET with the given request headers, added without validation as a client would send them.</summary>
    public static Task<HttpResponseMessage> GetWithHeadersAsync(this HttpClient client, string path, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return client.SendAsync(request);
    }
}
