namespace Coordination.Tasks;

/// <summary>What a <see cref="TaskOp"/> does; a store in another assembly switches on it.</summary>
public enum TaskOpKind
{
    /// <summary>Creates a task with a new id (<see cref="TaskOp.Create"/>).</summary>
    Create,

    /// <summary>Deletes a task, fenced (<see cref="TaskOp.Delete"/>).</summary>
    Delete,

    /// <summary>Replaces a task's values, fenced (<see cref="TaskOp.Update"/>).</summary>
    Update,

    /// <summary>Moves a task to another group, ready at once, fenced (<see cref="TaskOp.Move"/>).</summary>
    Move,

    /// <summary>Asserts a task is still at its lease version (<see cref="TaskOp.Pred"/>).</summary>
    Pred,

    /// <summary>Renews a lease to the store's now + <see cref="TaskOp.OwnFor"/>, fenced (<see cref="TaskOp.Reown"/>).</summary>
    Reown,

    /// <summary>Gives a leased task back, ready at the store's now + <see cref="TaskOp.OwnFor"/>, fenced (<see cref="TaskOp.Disown"/>).</summary>
    Disown,
}
