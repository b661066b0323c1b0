using System.Globalization;
using System.Text;

namespace Coordination.HttpBenchmarks;

/// <summary>
/// The herd endpoint's body: <see cref="Length"/> bytes that differ per handler run and end in a checksum of the rest,
/// so a client can tell a complete body from a truncated one or from pieces of two runs.
/// </summary>
internal static class HerdBody
{
    public const int Length = 2048;

    // "\n" and eight hex digits of the FNV-1a hash of everything before them.
    private const int ChecksumLength = 9;

    public static byte[] Create(long run)
    {
        var body = new byte[Length];
        var header = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"run {run}\n"));
        header.CopyTo(body, 0);
        for (var i = header.Length; i < Length - ChecksumLength; i++)
        {
            body[i] = (byte)('a' + ((run + i) % 26));
        }

        var checksum = string.Create(CultureInfo.InvariantCulture, $"\n{Fnv1a(body.AsSpan(0, Length - ChecksumLength)):x8}");
        Encoding.ASCII.GetBytes(checksum, body.AsSpan(Length - ChecksumLength));
        return body;
    }

    /// <summary>Whether <paramref name="body"/> is one whole body as <see cref="Create"/> makes it.</summary>
    public static bool IsIntact(ReadOnlySpan<byte> body)
    {
        if (body.Length != Length)
        {
            return false;
        }

        Span<char> expected = stackalloc char[ChecksumLength];
        expected[0] = '\n';
        Fnv1a(body[..^ChecksumLength]).TryFormat(expected[1..], out _, "x8", CultureInfo.InvariantCulture);
        var actual = body[^ChecksumLength..];
        for (var i = 0; i < ChecksumLength; i++)
        {
            if (actual[i] != expected[i])
            {
                return false;
            }
        }

        return true;
    }

    private static uint Fnv1a(ReadOnlySpan<byte> bytes)
    {
        var hash = 2166136261u;
        foreach (var b in bytes)
        {
            hash = (hash ^ b) * 16777619u;
        }

        return hash;
    }
}
