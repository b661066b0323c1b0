namespace Coordination.AspNetCore;

/// <summary>How a shared response body ended, as its followers learn it.</summary>
internal enum SharedBodyEnd
{
    /// <summary>The endpoint is still writing.</summary>
    Open,

    /// <summary>The endpoint returned or called <c>CompleteAsync</c>: the body is whole.</summary>
    Completed,

    /// <summary>The endpoint threw after its response had started.</summary>
    Failed,

    /// <summary>The endpoint called <c>HttpContext.Abort()</c>.</summary>
    Aborted,
}
