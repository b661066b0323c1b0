using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>The head of an HTTP/1.1 response: what the abort client needs of it.</summary>
internal sealed record ResponseHead(int StatusCode, long? ContentLength, bool Chunked, bool ConnectionClose, string? Role);

/// <summary>
/// One keep-alive HTTP/1.1 connection over a raw socket, so a request can be abandoned at any byte: while waiting
/// for the head, or between two pieces of the body. <see cref="Abort"/> resets the connection (RST), as a client
/// that goes away does. Enough HTTP for the benchmark app: a GET, a head, a Content-Length or chunked body.
/// </summary>
internal sealed class RawHttpConnection : IDisposable
{
    private readonly Socket _socket;
    private byte[] _buffer = new byte[16 * 1024];
    private int _start;
    private int _end;

    private RawHttpConnection(Socket socket) => _socket = socket;

    /// <summary>Gets the body bytes received but not yet read.</summary>
    public int Buffered => _end - _start;

    public static async Task<RawHttpConnection> OpenAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken);
            return new RawHttpConnection(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public async Task SendGetAsync(string host, string path, CancellationToken cancellationToken)
    {
        var request = Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        await _socket.SendAsync(request, SocketFlags.None, cancellationToken);
    }

    /// <summary>Reads the response head; <see langword="null"/> if the server closed the connection first.</summary>
    public async Task<ResponseHead?> ReadHeadAsync(CancellationToken cancellationToken)
    {
        int end;
        while ((end = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8)) < 0)
        {
            if (!await ReceiveAsync(cancellationToken))
            {
                return null;
            }
        }

        var head = Encoding.ASCII.GetString(_buffer, _start, end).Split("\r\n");
        _start += end + 4;
        var status = int.Parse(head[0].Split(' ')[1], CultureInfo.InvariantCulture);
        long? contentLength = null;
        bool chunked = false, close = false;
        string? role = null;
        foreach (var line in head.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var name = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                contentLength = long.Parse(value, CultureInfo.InvariantCulture);
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                chunked = value.Contains("chunked", StringComparison.OrdinalIgnoreCase);
            }
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                close = value.Contains("close", StringComparison.OrdinalIgnoreCase);
            }
            else if (name.Equals("X-SingleFlight", StringComparison.OrdinalIgnoreCase))
            {
                role = value;
            }
        }

        return new ResponseHead(status, contentLength, chunked, close, role);
    }

    /// <summary>Waits for at least one more byte; <see langword="false"/> if the server closed the connection.</summary>
    public Task<bool> ReceiveMoreAsync(CancellationToken cancellationToken) => ReceiveAsync(cancellationToken);

    /// <summary>Reads the whole body; <see langword="null"/> if the connection ended before it did (truncated).</summary>
    public async Task<byte[]?> ReadBodyAsync(ResponseHead head, CancellationToken cancellationToken)
    {
        if (!head.Chunked)
        {
            // Without a length, a body ends with the connection.
            return head.ContentLength is { } length ? await ReadExactlyAsync((int)length, cancellationToken) : await ReadToEndAsync(cancellationToken);
        }

        var body = new MemoryStream();
        while (true)
        {
            if (await ReadLineAsync(cancellationToken) is not { } sizeLine)
            {
                return null;
            }

            var size = int.Parse(sizeLine.Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (size == 0)
            {
                // Trailers, if any, up to the empty line.
                while (await ReadLineAsync(cancellationToken) is { Length: > 0 })
                {
                }

                return body.ToArray();
            }

            if (await ReadExactlyAsync(size, cancellationToken) is not { } chunk || await ReadLineAsync(cancellationToken) is null)
            {
                return null;
            }

            body.Write(chunk);
        }
    }

    /// <summary>Resets the connection (RST), as a client that goes away mid-request does.</summary>
    public void Abort()
    {
        _socket.LingerState = new LingerOption(true, 0);
        _socket.Dispose();
    }

    public void Dispose() => _socket.Dispose();

    private async Task<byte[]?> ReadExactlyAsync(int count, CancellationToken cancellationToken)
    {
        while (_end - _start < count)
        {
            if (!await ReceiveAsync(cancellationToken))
            {
                return null;
            }
        }

        var bytes = _buffer.AsSpan(_start, count).ToArray();
        _start += count;
        return bytes;
    }

    private async Task<byte[]> ReadToEndAsync(CancellationToken cancellationToken)
    {
        while (await ReceiveAsync(cancellationToken))
        {
        }

        var bytes = _buffer.AsSpan(_start, _end - _start).ToArray();
        _start = _end;
        return bytes;
    }

    private async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        int end;
        while ((end = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8)) < 0)
        {
            if (!await ReceiveAsync(cancellationToken))
            {
                return null;
            }
        }

        var line = Encoding.ASCII.GetString(_buffer, _start, end);
        _start += end + 2;
        return line;
    }

    private async Task<bool> ReceiveAsync(CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2);
        }

        var received = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken);
        _end += received;
        return received > 0;
    }
}
