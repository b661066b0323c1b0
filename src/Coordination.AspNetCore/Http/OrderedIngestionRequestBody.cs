using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Coordination.AspNetCore;

/// <summary>Reads an ingestion POST's body into the request's own pooled pipe buffers, bounded by the ingestion's limit.</summary>
internal static class OrderedIngestionRequestBody
{
    /// <summary>Sets the server's body limit for this request to the ingestion's (Kestrel's default is 30,000,000 bytes,
    /// which would refuse a larger body the ingestion allows), then reads the whole body; <see langword="null"/> when it
    /// is over <paramref name="maxBodySize"/>. The caller must <see cref="PipeReader.AdvanceTo(SequencePosition)"/> past it.</summary>
    public static async Task<ReadOnlySequence<byte>?> ReadAsync(HttpContext context, int maxBodySize)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            // One byte more than allowed, so an oversized body reaches our own check (and its ProblemDetails).
            limit.MaxRequestBodySize = maxBodySize + 1L;
        }

        var reader = context.Request.BodyReader;
        while (true)
        {
            ReadResult read;
            try
            {
                read = await reader.ReadAsync(context.RequestAborted).ConfigureAwait(false);
            }
            catch (BadHttpRequestException exception) when (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                return null;
            }

            if (read.Buffer.Length > maxBodySize)
            {
                reader.AdvanceTo(read.Buffer.End);
                return null;
            }

            if (read.IsCompleted)
            {
                return read.Buffer;
            }

            reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
    }
}
