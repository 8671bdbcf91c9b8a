"""Every type, field, argument, enum value and input field of the schema has a description:
GraphiQL's documentation explorer is the first thing a developer reads."""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    specified_directives,
)

from milestones.schema.root import export_sdl


def undescribed(schema: GraphQLSchema) -> list[str]:
    """The schema coordinates (`Type.field(argument:)`, `Enum.VALUE`, ...) with no description."""
    missing: list[str] = []

    def check(coordinate: str, description: str | None) -> None:
        if description is None or not description.strip():
            missing.append(coordinate)

    for name, type_ in sorted(schema.type_map.items()):
        if name.startswith("__"):
            continue  # introspection's own types
        check(name, type_.description)
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in type_.fields.items():
                check(f"{name}.{field_name}", field.description)
                for arg_name, arg in field.args.items():
                    check(f"{name}.{field_name}({arg_name}:)", arg.description)
        elif isinstance(type_, GraphQLInputObjectType):
            for field_name, input_field in type_.fields.items():
                check(f"{name}.{field_name}", input_field.description)
        elif isinstance(type_, GraphQLEnumType):
            for value_name, value in type_.values.items():
                check(f"{name}.{value_name}", value.description)
    for directive in schema.directives:
        if directive in specified_directives:
            continue
        check(f"@{directive.name}", directive.description)
        for arg_name, arg in directive.args.items():
            check(f"@{directive.name}({arg_name}:)", arg.description)
    return missing


def test_every_schema_coordinate_has_a_description() -> None:
    # Read back from the SDL the server exports: what GraphiQL and codegen see.
    missing = undescribed(build_schema(export_sdl()))
    assert not missing, f"{len(missing)} without a description:\n" + "\n".join(missing)


def test_the_check_sees_a_missing_description() -> None:
    import strawberry

    @strawberry.type(description="A query.")
    class Query:
        @strawberry.field
        def plain(self, argument: int) -> int:
            return argument

    assert undescribed(strawberry.Schema(query=Query)._schema) == [
        "Query.plain",
        "Query.plain(argument:)",
    ]
