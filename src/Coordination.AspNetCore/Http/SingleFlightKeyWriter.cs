using System.Buffers;
using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Primitives;

namespace Coordination.AspNetCore;

/// <summary>
/// Writes a single-flight key into a reused buffer: each value is prefixed with its length, so no value can forge a
/// delimiter and two different requests never write one key.
/// </summary>
/// <remarks>
/// A length is one character when it is below <see cref="LongLength"/> (nearly always), else that marker and two
/// characters; <see langword="null"/> is the <see cref="NullValue"/> character. Keys only meet other keys in a flight
/// table, so they need not be readable, only unambiguous; lengths as characters spare the number formatting that
/// every request used to pay for.
/// </remarks>
internal struct SingleFlightKeyWriter(char[] buffer)
{
    private const char NullValue = '\uFFFE';
    private const char LongLength = '\uFFFF';

    private int _length;

    /// <summary>The buffer written so far; it is replaced by a larger one when a key outgrows it.</summary>
    public char[] Buffer { get; private set; } = buffer;

    public readonly int Length => _length;

    /// <summary>Appends a tag that says which part of the key follows.</summary>
    public void Append(char tag) => Reserve(1)[0] = tag;

    public void Append(string? value)
    {
        if (value is null)
        {
            Append(NullValue);
            return;
        }

        Append(value.AsSpan());
    }

    public void Append(ReadOnlySpan<char> value)
    {
        AppendLength(value.Length);
        value.CopyTo(Reserve(value.Length));
    }

    /// <summary>Appends a value lower-cased with the invariant culture (host names, query keys).</summary>
    public void AppendLowerCase(string? value)
    {
        if (value is null)
        {
            Append(NullValue);
            return;
        }

        AppendLength(value.Length);
        var destination = Reserve(value.Length);
        if (Ascii.ToLower(value, destination, out _) != OperationStatus.Done)
        {
            // Not ASCII (rare in host names and query keys): the invariant culture's casing, which keeps the length.
            var written = value.AsSpan().ToLowerInvariant(destination);
            Debug.Assert(written == value.Length, "Invariant lower-casing keeps the length.");
        }
    }

    /// <summary>Appends the count of values, then each value.</summary>
    public void Append(StringValues values)
    {
        AppendLength(values.Count);
        foreach (var value in values)
        {
            Append(value);
        }
    }

    public void AppendLength(int length)
    {
        Debug.Assert(length >= 0, "Lengths are never negative.");
        if (length < NullValue)
        {
            Append((char)length);
            return;
        }

        var span = Reserve(3);
        span[0] = LongLength;
        span[1] = (char)(length >> 16);
        span[2] = (char)length;
    }

    public override readonly string ToString() => new(Buffer, 0, _length);

    private Span<char> Reserve(int count)
    {
        if (Buffer.Length - _length < count)
        {
            var larger = new char[Math.Max(Buffer.Length * 2, _length + count)];
            Buffer.AsSpan(0, _length).CopyTo(larger);
            Buffer = larger;
        }

        var span = Buffer.AsSpan(_length, count);
        _length += count;
        return span;
    }
}
