using Orleans.Placement;

namespace Cluster.Silo.Placement;

/// <summary>
/// Spreads pipeline stages over the silos: stage s of replica r goes to silo (r · stages + s) mod N, over the silos
/// that can host it, in address order. The stages of one replica therefore land on different silos whenever there
/// are enough, and replicas fill the silos after them. See <see cref="StagePlacementDirector"/>.
/// </summary>
public sealed class StagePlacementStrategy : PlacementStrategy;

/// <summary>Places a grain keyed by a <c>StageKey</c> with <see cref="StagePlacementStrategy"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class StagePlacementAttribute() : PlacementAttribute(new StagePlacementStrategy());
